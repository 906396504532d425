/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Walks protobuf wire format (varint, 64-bit, length-delimited and 32-bit fields) against a
 * protobuf-c descriptor, looking only at length-delimited fields: strings are searched for
 * NUL, sub-messages are walked in turn (nesting is bounded by the schema).
 */
#include "plugin/pbcheck.h"

#include <string.h>

#define MAX_DEPTH 8 /* our request types nest two levels */

static bool
read_varint(const uint8_t **p, const uint8_t *end, uint64_t *ret)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *ret = v;
            return true;
        }
    }
    return false;
}

static const ProtobufCFieldDescriptor *
field_by_id(const ProtobufCMessageDescriptor *desc, uint64_t id)
{
    for (unsigned i = 0; i < desc->n_fields; i++) {
        if (desc->fields[i].id == id) {
            return &desc->fields[i];
        }
    }
    return NULL;
}

/* Skips a field of wire type wt; false when malformed. */
static bool
skip_field(unsigned wt, const uint8_t **p, const uint8_t *end)
{
    uint64_t v;
    size_t n = wt == 1 ? 8 : wt == 5 ? 4 : 0;
    if (wt == 0) {
        return read_varint(p, end, &v);
    }
    if (n == 0 || (size_t)(end - *p) < n) {
        return false;
    }
    *p += n;
    return true;
}

static bool
has_nul(const ProtobufCMessageDescriptor *desc, const uint8_t *p, const uint8_t *end,
        unsigned depth)
{
    uint64_t key, len;
    while (p < end && read_varint(&p, end, &key)) {
        unsigned wt = (unsigned)(key & 7);
        if (wt != 2) {
            if (!skip_field(wt, &p, end)) {
                return false;
            }
            continue;
        }
        if (!read_varint(&p, end, &len) || len > (uint64_t)(end - p)) {
            return false;
        }
        const ProtobufCFieldDescriptor *f = field_by_id(desc, key >> 3);
        if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING && memchr(p, 0, (size_t)len) != NULL) {
            return true;
        }
        if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE && depth < MAX_DEPTH &&
            has_nul(f->descriptor, p, p + len, depth + 1)) {
            return true;
        }
        p += len;
    }
    return false;
}

bool
gdp_pb_has_nul_string(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len)
{
    return buf != NULL && has_nul(desc, buf, buf + len, 0);
}
