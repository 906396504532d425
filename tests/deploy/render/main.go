// SPDX-License-Identifier: Apache-2.0
//
// render: a Helm chart renderer for offline tests, built from Debian's Go packages
// (text/template, sprig, ghodss/yaml) in GOPATH mode. It does what `helm template` does for a
// chart without subcharts: values from values.yaml, then each -f file, then each --set
// (maps merged, null deletes), Helm's template functions (include, tpl, required, fail,
// toYaml, fromYaml, toJson, fromJson, lookup), .Release/.Chart/.Capabilities/.Template, then
// every template not starting with "_" executed and printed as YAML documents. Subcharts,
// hooks, CRDs and values.schema.json are not handled; lookup finds nothing.
//
//	render [-n namespace] [--release name] [--api-version group/version/Kind]...
//	       [-f values.yaml]... [--set key=value]... CHART_DIR
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"github.com/ghodss/yaml"
)

type values = map[string]interface{}

type apiVersions []string

// Has reports whether the fake cluster serves "group/version" or "group/version/Kind".
func (a apiVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

type options struct {
	namespace, release string
	files, sets        []string
	apis               apiVersions
	chart              string
}

func parseArgs(args []string) (options, error) {
	o := options{namespace: "default", release: "release-name",
		apis: apiVersions{"v1", "apps/v1", "batch/v1", "rbac.authorization.k8s.io/v1"}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() (string, error) {
			if i+1 >= len(args) {
				return "", fmt.Errorf("%s needs a value", a)
			}
			i++
			return args[i], nil
		}
		var err error
		var v string
		switch a {
		case "-n", "--namespace":
			v, err = next()
			o.namespace = v
		case "--release":
			v, err = next()
			o.release = v
		case "-f", "--values":
			v, err = next()
			o.files = append(o.files, v)
		case "--set":
			v, err = next()
			o.sets = append(o.sets, v)
		case "--api-version":
			v, err = next()
			o.apis = append(o.apis, v)
		default:
			if strings.HasPrefix(a, "-") || o.chart != "" {
				return o, fmt.Errorf("unexpected argument %q", a)
			}
			o.chart = a
		}
		if err != nil {
			return o, err
		}
	}
	if o.chart == "" {
		return o, errors.New("no chart directory given")
	}
	return o, nil
}

func readYAML(file string) (values, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	v := values{}
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	return v, nil
}

// merge lays src over dst as Helm coalesces values: maps merge, null removes a key.
func merge(dst, src values) values {
	for k, sv := range src {
		if sv == nil {
			delete(dst, k)
			continue
		}
		sm, sok := sv.(map[string]interface{})
		dm, dok := dst[k].(map[string]interface{})
		if sok && dok {
			dst[k] = merge(dm, sm)
		} else {
			dst[k] = sv
		}
	}
	return dst
}

// scalar types a --set value as Helm does: true, false, null and integers; else a string.
func scalar(s string) interface{} {
	switch s {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && (s == "0" || s[0] != '0') {
		return n
	}
	return s
}

// setValue applies one --set key.path=value.
func setValue(v values, kv string) error {
	eq := strings.IndexByte(kv, '=')
	if eq <= 0 {
		return fmt.Errorf("--set %q: want key=value", kv)
	}
	keys := strings.Split(kv[:eq], ".")
	m := values{}
	leaf := m
	for _, k := range keys[:len(keys)-1] {
		n := values{}
		leaf[k] = n
		leaf = n
	}
	leaf[keys[len(keys)-1]] = scalar(kv[eq+1:])
	merge(v, m)
	return nil
}

func loadValues(o options, chart string) (values, error) {
	v, err := readYAML(filepath.Join(chart, "values.yaml"))
	if err != nil {
		return nil, err
	}
	for _, f := range o.files {
		fv, err := readYAML(f)
		if err != nil {
			return nil, err
		}
		merge(v, fv)
	}
	for _, s := range o.sets {
		if err := setValue(v, s); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

func fromYAML(s string) values {
	m := values{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJSON(s string) values {
	m := values{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

// funcs is sprig plus Helm's own functions; include and tpl need the template set t.
func funcs(t **template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	f["toYaml"] = toYAML
	f["fromYaml"] = fromYAML
	f["toJson"] = toJSON
	f["mustToJson"] = func(v interface{}) (string, error) {
		data, err := json.Marshal(v)
		return string(data), err
	}
	f["fromJson"] = fromJSON
	f["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		err := (*t).ExecuteTemplate(&buf, name, data)
		return strings.ReplaceAll(buf.String(), "<no value>", ""), err
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		c, err := (*t).Clone()
		if err == nil {
			c, err = c.New("tpl").Parse(text)
		}
		var buf bytes.Buffer
		if err == nil {
			err = c.Execute(&buf, data)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), err
	}
	f["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil || v == "" {
			return v, errors.New(msg)
		}
		return v, nil
	}
	f["fail"] = func(msg string) (string, error) { return "", errors.New(msg) }
	f["lookup"] = func(string, string, string, string) (values, error) { return values{}, nil }
	return f
}

func chartMeta(dir string) (values, string, error) {
	c, err := readYAML(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, "", err
	}
	name, _ := c["name"].(string)
	if name == "" {
		return nil, "", errors.New("Chart.yaml has no name")
	}
	meta := values{}
	for k, v := range c {
		meta[strings.ToUpper(k[:1])+k[1:]] = v
	}
	return meta, name, nil
}

func parseTemplates(dir, name string, t **template.Template) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "templates", "*"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	*t = template.New(name).Option("missingkey=zero").Funcs(funcs(t))
	var names []string
	for _, f := range files {
		if !strings.HasSuffix(f, ".yaml") && !strings.HasSuffix(f, ".yml") &&
			!strings.HasSuffix(f, ".tpl") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		tname := path.Join(name, "templates", filepath.Base(f))
		if _, err := (*t).New(tname).Parse(string(data)); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(filepath.Base(f), "_") {
			names = append(names, tname)
		}
	}
	return names, nil
}

func render(o options) (string, error) {
	meta, name, err := chartMeta(o.chart)
	if err != nil {
		return "", err
	}
	vals, err := loadValues(o, o.chart)
	if err != nil {
		return "", err
	}
	var t *template.Template
	names, err := parseTemplates(o.chart, name, &t)
	if err != nil {
		return "", err
	}
	var out strings.Builder
	for _, tname := range names {
		top := values{
			"Values":  vals,
			"Chart":   meta,
			"Release": values{"Name": o.release, "Namespace": o.namespace, "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1},
			"Capabilities": values{"APIVersions": o.apis,
				"KubeVersion": values{"Version": "v1.30.0", "Major": "1", "Minor": "30", "GitVersion": "v1.30.0"}},
			"Template": values{"Name": tname, "BasePath": path.Join(name, "templates")},
		}
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, tname, top); err != nil {
			return "", fmt.Errorf("execution error at (%s): %v", tname, err)
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		for _, doc := range strings.Split(text, "\n---") {
			if strings.TrimSpace(strings.TrimPrefix(doc, "---")) == "" {
				continue
			}
			fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", tname,
				strings.TrimSpace(strings.TrimPrefix(doc, "---")))
		}
	}
	return out.String(), nil
}

func main() {
	o, err := parseArgs(os.Args[1:])
	if err == nil {
		var text string
		text, err = render(o)
		if err == nil {
			fmt.Print(text)
			return
		}
	}
	fmt.Fprintf(os.Stderr, "Error: %v\n", err)
	os.Exit(1)
}
