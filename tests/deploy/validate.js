// SPDX-License-Identifier: Apache-2.0
//
// Validates Kubernetes objects in YAML files: each against Kubernetes' OpenAPI schema
// (npm kubernetes-models: types, enums, required fields), and for fields the API does not
// know (walking @kubernetes/client-node's type metadata), which the schemas let through.
//   node validate.js FILE...    (documents that are empty or comments only are skipped)
// Prints one line per problem and exits 1 if there is any.
"use strict";
const fs = require("fs");
const YAML = require("yaml");
const k8s = require("@kubernetes/client-node");

const PRIMITIVES = new Set(["string", "number", "boolean", "Date", "object", "any",
    "IntOrString", "RuntimeRawExtension"]);

function modelOf(apiVersion, kind) {
    const dir = apiVersion.includes("/") ? apiVersion : `v1`;
    try {
        return require(`kubernetes-models/${dir}`)[kind];
    } catch (e) {
        return undefined;
    }
}

function clientTypeOf(apiVersion, kind) {
    const version = apiVersion.split("/").pop();
    return `${version.charAt(0).toUpperCase()}${version.slice(1)}${kind}`;
}

/* Unknown fields under value, typed as client-node's typeName. */
function unknownFields(value, typeName, path, out) {
    if (value === null || value === undefined || PRIMITIVES.has(typeName)) {
        return;
    }
    const array = /^Array<(.*)>$/.exec(typeName);
    if (array) {
        (Array.isArray(value) ? value : []).forEach((v, i) =>
            unknownFields(v, array[1], `${path}[${i}]`, out));
        return;
    }
    const map = /^\{ \[key: string\]: (.*); \}$/.exec(typeName);
    if (map) {
        for (const [key, v] of Object.entries(value)) {
            unknownFields(v, map[1], `${path}.${key}`, out);
        }
        return;
    }
    const cls = k8s[typeName];
    if (!cls || typeof cls.getAttributeTypeMap !== "function" || typeof value !== "object") {
        return;
    }
    const attrs = new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
    for (const [key, v] of Object.entries(value)) {
        if (!attrs.has(key)) {
            out.push(`unknown field "${path}.${key}"`);
        } else {
            unknownFields(v, attrs.get(key), `${path}.${key}`, out);
        }
    }
}

/*
 * The Prometheus operator's ServiceMonitor, a custom resource kubernetes-models does not
 * know: the fields the chart may write, each with its type; anything else is unknown.
 */
const SERVICE_MONITOR = {
    apiVersion: "string", kind: "string", metadata: "V1ObjectMeta",
    spec: {
        selector: "V1LabelSelector", namespaceSelector: {matchNames: ["string"], any: "boolean"},
        jobLabel: "string",
        endpoints: [{port: "string", path: "string", interval: "string", scheme: "string",
            scrapeTimeout: "string"}],
    },
};

function checkShape(value, shape, path, out) {
    if (typeof shape === "string") {
        if (shape.startsWith("V1")) {
            unknownFields(value, shape, path, out);
        } else if (typeof value !== shape) {
            out.push(`${path}: expected a ${shape}`);
        }
    } else if (Array.isArray(shape)) {
        if (!Array.isArray(value)) {
            out.push(`${path}: expected a list`);
        } else {
            value.forEach((v, i) => checkShape(v, shape[0], `${path}[${i}]`, out));
        }
    } else if (!value || typeof value !== "object") {
        out.push(`${path}: expected an object`);
    } else {
        for (const [key, v] of Object.entries(value)) {
            if (!(key in shape)) {
                out.push(`unknown field "${path}.${key}"`);
            } else {
                checkShape(v, shape[key], `${path}.${key}`, out);
            }
        }
    }
}

function check(obj) {
    const problems = [];
    if (!obj || typeof obj !== "object" || !obj.apiVersion || !obj.kind) {
        return ["not a Kubernetes object (no apiVersion or kind)"];
    }
    if (obj.apiVersion === "monitoring.coreos.com/v1" && obj.kind === "ServiceMonitor") {
        checkShape(obj, SERVICE_MONITOR, obj.kind, problems);
        if (!obj.spec || !obj.spec.selector || !Array.isArray(obj.spec.endpoints)) {
            problems.push("ServiceMonitor: spec.selector and spec.endpoints are required");
        }
        return problems;
    }
    const Model = modelOf(obj.apiVersion, obj.kind);
    if (!Model) {
        return [`no schema for ${obj.apiVersion} ${obj.kind}`];
    }
    try {
        new Model(obj).validate();
    } catch (e) {
        problems.push(`schema: ${e.message}`);
    }
    const typeName = clientTypeOf(obj.apiVersion, obj.kind);
    if (!k8s[typeName]) {
        return [...problems, `no field list for ${obj.apiVersion} ${obj.kind}`];
    }
    unknownFields(obj, typeName, obj.kind, problems);
    return problems;
}

let failed = 0;
let count = 0;
for (const file of process.argv.slice(2)) {
    const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"));
    docs.forEach((doc, i) => {
        const problems = doc.errors.length ? doc.errors.map((e) => `YAML: ${e.message}`) : [];
        const obj = doc.errors.length ? null : doc.toJS();
        if (obj === null && problems.length === 0) {
            return;
        }
        problems.push(...(obj === null ? [] : check(obj)));
        count++;
        const what = obj && obj.metadata ? `${obj.kind}/${obj.metadata.name}` : `document ${i + 1}`;
        for (const p of problems) {
            console.log(`${file}: ${what}: ${p}`);
            failed++;
        }
    });
}
console.log(`validate: ${count} objects, ${failed} problems`);
process.exit(failed ? 1 : 0);
