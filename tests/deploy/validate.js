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

function check(obj) {
    const problems = [];
    if (!obj || typeof obj !== "object" || !obj.apiVersion || !obj.kind) {
        return ["not a Kubernetes object (no apiVersion or kind)"];
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
