/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A check on serialized protobuf requests that protobuf-c's unpacking cannot make: a string
 * field is unpacked into a NUL-terminated C string, so "GPU-<uuid>\0junk" would read as
 * "GPU-<uuid>" and match the real device. The raw bytes are walked with the message's
 * descriptor and every string field (in nested messages too) is checked for NUL bytes.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/*
 * True when buf (len bytes, a serialized message of type desc) has a string field, at any
 * depth, containing a NUL byte. Malformed input returns false: unpacking rejects it.
 */
bool gdp_pb_has_nul_string(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len);
