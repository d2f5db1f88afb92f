/*
 * A gadget formatter written in C against the raw WASM ABI of
 * docs/plugins.md: it counts the events of the batch and writes one line,
 * "<gadget>: <n> events in batch <sequence>". Build it as a WASI reactor:
 *
 *   clang --target=wasm32-wasi --sysroot=/usr -mexec-model=reactor -O2 \
 *     -o c-example.wasm formatter.c
 *
 * The exports are gadget_manifest, gadget_alloc and gadget_call; the
 * request and the response are the JSON of plugins/sdk/abi. The request is
 * scanned, not fully parsed: enough for a count, and for a short example.
 * When the request says "rawData": true, the output goes raw: the byte
 * 0x00, then the output as it is; older hosts get {"data":"<base64>"}.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char manifest[] =
    "{\"name\":\"c-example\",\"kind\":\"formatter\",\"contractVersion\":1,"
    "\"mediaType\":\"text/plain\",\"description\":\"Counts the events (C example).\"}";

/* The last response, kept until the next call. */
static char *response;

static uint64_t pack(const char *p, size_t len) {
    return ((uint64_t)(uintptr_t)p << 32) | (uint64_t)len;
}

__attribute__((export_name("gadget_manifest")))
uint64_t gadget_manifest(void) {
    return pack(manifest, sizeof manifest - 1);
}

/* gadget_alloc returns a buffer the host writes the request into; it is
 * freed by gadget_call. */
__attribute__((export_name("gadget_alloc")))
uint32_t gadget_alloc(uint32_t size) {
    return (uint32_t)(uintptr_t)malloc(size ? size : 1);
}

/* skip_string returns the index after the JSON string starting at s[i]. */
static size_t skip_string(const char *s, size_t n, size_t i) {
    for (i++; i < n; i++) {
        if (s[i] == '\\') {
            i++;
        } else if (s[i] == '"') {
            return i + 1;
        }
    }
    return n;
}

/* key_at reports whether the string at s[i] is the key name. */
static int key_at(const char *s, size_t n, size_t i, const char *name) {
    size_t l = strlen(name);
    return i + l + 2 <= n && s[i] == '"' && strncmp(s + i + 1, name, l) == 0 && s[i + l + 1] == '"';
}

/* value_start returns the index of the value of the top-level key name,
 * or n. */
static size_t value_start(const char *s, size_t n, const char *name) {
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '"') {
            if (depth == 1 && key_at(s, n, i, name)) {
                i = skip_string(s, n, i);
                while (i < n && (s[i] == ' ' || s[i] == ':' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r')) {
                    i++;
                }
                return i;
            }
            i = skip_string(s, n, i) - 1;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return n;
}

/* count_elements counts the elements of the JSON array at s[i]. */
static long count_elements(const char *s, size_t n, size_t i) {
    if (i >= n || s[i] != '[') {
        return -1;
    }
    long count = 0;
    int depth = 0, empty = 1;
    for (; i < n; i++) {
        char c = s[i];
        if (c == '"') {
            empty = 0;
            i = skip_string(s, n, i) - 1;
        } else if (c == '{' || c == '[') {
            if (depth == 1) {
                empty = 0;
            }
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) {
                return empty ? 0 : count + 1;
            }
        } else if (c == ',' && depth == 1) {
            count++;
        } else if (depth == 1 && c != ' ' && c != '\n' && c != '\t' && c != '\r') {
            empty = 0;
        }
    }
    return -1;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* respond sets the response to text: raw (0x00, then text) or as
 * {"data":"<base64 of text>"}. */
static uint64_t respond(const char *text, int raw) {
    size_t n = strlen(text);
    free(response);
    if (raw) {
        response = malloc(n + 1);
        if (response == NULL) {
            return 0;
        }
        response[0] = 0;
        memcpy(response + 1, text, n);
        return pack(response, n + 1);
    }
    response = malloc(16 + 4 * (n / 3 + 1));
    if (response == NULL) {
        return 0;
    }
    char *o = response;
    o += sprintf(o, "{\"data\":\"");
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)text[i] << 16;
        if (i + 1 < n) v |= (uint32_t)(unsigned char)text[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)text[i + 2];
        *o++ = b64[(v >> 18) & 63];
        *o++ = b64[(v >> 12) & 63];
        *o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? b64[v & 63] : '=';
    }
    o += sprintf(o, "\"}");
    return pack(response, (size_t)(o - response));
}

__attribute__((export_name("gadget_call")))
uint64_t gadget_call(uint32_t ptr, uint32_t len) {
    const char *req = (const char *)(uintptr_t)ptr;
    char gadget[64] = "events";
    size_t g = value_start(req, len, "gadget");
    if (g < len && req[g] == '"') {
        size_t end = skip_string(req, len, g);
        size_t l = end - g - 2;
        if (end <= len && l < sizeof gadget) {
            memcpy(gadget, req + g + 1, l);
            gadget[l] = 0;
        }
    }
    unsigned long long seq = 0;
    size_t q = value_start(req, len, "sequence");
    if (q < len) {
        seq = strtoull(req + q, NULL, 10);
    }
    size_t r = value_start(req, len, "rawData");
    int raw = r + 4 <= len && strncmp(req + r, "true", 4) == 0;
    long count = count_elements(req, len, value_start(req, len, "batch"));
    free((void *)req);

    char line[128];
    if (count < 0) {
        free(response);
        response = strdup("{\"error\":\"the request has no batch array\"}");
        return response ? pack(response, strlen(response)) : 0;
    }
    snprintf(line, sizeof line, "%s: %ld events in batch %llu\n", gadget, count, seq);
    return respond(line, raw);
}
