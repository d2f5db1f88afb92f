/*
 * The conformance formatter of plugins/conformance, written in C against
 * the raw WASM ABI of docs/plugins.md. Its output is byte for byte that of
 * conformance.Format:
 *
 *   <gadget> #<sequence> final=<true|false> events=<n> params=<k=v,...>
 *   <ip> <port>                                  (one line per event)
 *
 * with the parameters sorted by key, and the parameter "fail" failing the
 * call with its value as the message. It exists to measure the WASM host
 * with a guest whose code is about as fast as native code (Go's WASM code
 * is not), so it reads the request in one pass, validating it as the Go
 * SDK's wasm.ForEachObject does, and allocates nothing per event: the
 * buffers it writes into are kept and grown across calls.
 *
 * Build it as a WASI reactor (see the Makefile):
 *
 *   clang --target=wasm32-wasi --sysroot=/usr -mexec-model=reactor -O2 \
 *     -msimd128 -mbulk-memory -o conformance-c.wasm formatter.c
 *
 * Without -msimd128 (or natively, for a test) it builds without SIMD;
 * -mbulk-memory makes memcpy one memory.copy instead of a loop of loads
 * and stores (which the host's fuel meter would count).
 *
 * The exports are gadget_manifest, gadget_alloc and gadget_call; the
 * request and the response are the JSON of plugins/sdk/abi, but for the
 * raw response a host offers with "rawData": the byte 0x00, then the
 * output (docs/plugins.md).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __wasm_simd128__
#include <wasm_simd128.h>
#endif

static const char manifest[] =
    "{\"name\":\"conformance-c\",\"kind\":\"formatter\",\"contractVersion\":1,"
    "\"mediaType\":\"text/plain\","
    "\"description\":\"Summarises each batch, for the conformance tests (C build).\"}";

/* maxDepth bounds the nesting of JSON values, as the Go SDK does. */
#define MAX_DEPTH 10000

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

/* ---- Growable buffers, kept across calls ---- */

typedef struct {
    char *p;
    size_t len, cap;
} buf;

/* reserve makes room for n more bytes in b; 0 when out of memory. */
static int reserve(buf *b, size_t n) {
    if (b->len + n <= b->cap) {
        return 1;
    }
    size_t c = b->cap ? b->cap : 4096;
    while (c < b->len + n) {
        c *= 2;
    }
    char *p = realloc(b->p, c);
    if (p == NULL) {
        return 0;
    }
    b->p = p;
    b->cap = c;
    return 1;
}

/* put appends n bytes; the caller has reserved room. */
static void put(buf *b, const void *s, size_t n) {
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* puts_ appends a C string, reserving room; 0 when out of memory. */
static int puts_(buf *b, const char *s) {
    size_t n = strlen(s);
    if (!reserve(b, n)) {
        return 0;
    }
    put(b, s, n);
    return 1;
}

/* format_int writes v in decimal at o, which has room for 20 bytes, and
 * returns the end. */
static char *format_int(char *o, int64_t v) {
    char tmp[20];
    int i = sizeof tmp;
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) {
        tmp[--i] = '-';
    }
    memcpy(o, tmp + i, sizeof tmp - i);
    return o + sizeof tmp - i;
}

static buf text;     /* the event lines */
static buf head;     /* the header line */
static buf response; /* the last response, kept until the next call */
static buf errmsg;   /* the message of a failed call */
static buf scratch;  /* decoded strings of the request's head */

/* ---- Decoding JSON strings as encoding/json does ---- */

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* u4 reads the 4 hex digits after "\u" at s (already validated). */
static uint32_t u4(const unsigned char *s) {
    return (uint32_t)(hexval(s[0]) << 12 | hexval(s[1]) << 8 | hexval(s[2]) << 4 | hexval(s[3]));
}

/* put_rune writes r as UTF-8 at o and returns the bytes written. */
static size_t put_rune(char *o, uint32_t r) {
    if (r < 0x80) {
        o[0] = (char)r;
        return 1;
    }
    if (r < 0x800) {
        o[0] = (char)(0xC0 | r >> 6);
        o[1] = (char)(0x80 | (r & 0x3F));
        return 2;
    }
    if (r < 0x10000) {
        o[0] = (char)(0xE0 | r >> 12);
        o[1] = (char)(0x80 | (r >> 6 & 0x3F));
        o[2] = (char)(0x80 | (r & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | r >> 18);
    o[1] = (char)(0x80 | (r >> 12 & 0x3F));
    o[2] = (char)(0x80 | (r >> 6 & 0x3F));
    o[3] = (char)(0x80 | (r & 0x3F));
    return 4;
}

/* utf8_len returns the length of the valid UTF-8 sequence at s[0:n], or 0
 * when it is invalid (Go's utf8.DecodeRune rules: no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t l;
    if (c >= 0xC2 && c <= 0xDF) {
        l = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        l = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        l = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (n < l || s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < l; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF) {
            return 0;
        }
    }
    return l;
}

/* decode writes the contents s[0:n] of a JSON string (between its quotes,
 * escapes already validated) to o, decoded as encoding/json decodes it:
 * escapes resolved, surrogate pairs joined, a lone surrogate or an invalid
 * UTF-8 byte becoming U+FFFD. o has room for 3*n bytes. It returns the
 * bytes written, or -1 when the string holds a control character. */
static long decode(const unsigned char *s, size_t n, char *o) {
    char *start = o;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x80 && c != '\\') {
            *o++ = (char)c;
            i++;
            continue;
        }
        if (c < 0x20) {
            return -1;
        }
        if (c >= 0x80) {
            size_t l = utf8_len(s + i, n - i);
            if (l == 0) {
                o += put_rune(o, 0xFFFD);
                i++;
            } else {
                memcpy(o, s + i, l);
                o += l;
                i += l;
            }
            continue;
        }
        /* An escape. */
        c = s[i + 1];
        i += 2;
        switch (c) {
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            uint32_t r = u4(s + i);
            i += 4;
            if (r >= 0xD800 && r < 0xE000) {
                /* A surrogate: valid only as a high one followed by an
                 * escaped low one. */
                if (r < 0xDC00 && i + 6 <= n && s[i] == '\\' && s[i + 1] == 'u') {
                    uint32_t r2 = u4(s + i + 2);
                    if (r2 >= 0xDC00 && r2 < 0xE000) {
                        o += put_rune(o, 0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00));
                        i += 6;
                        break;
                    }
                }
                r = 0xFFFD;
            }
            o += put_rune(o, r);
            break;
        }
        default: /* '"', '\\' or '/' */
            *o++ = (char)c;
        }
    }
    return o - start;
}

/* copy_plain copies to o the prefix of s[0:l] that decode would copy as
 * it is (printable ASCII but the backslash) and returns its length. With
 * WASM SIMD it goes 16 bytes at a time, reading up to 15 bytes past l but
 * never at or past end, and writing up to 16 bytes past what it returns:
 * o must have room for l + 16 bytes. */
static inline size_t copy_plain(const unsigned char *s, size_t l, const unsigned char *end, char *o) {
    size_t k = 0;
#ifdef __wasm_simd128__
    const v128_t space = wasm_i8x16_splat(0x20), backslash = wasm_i8x16_splat('\\');
    while (k < l && end - (s + k) >= 16) {
        v128_t v = wasm_v128_load(s + k);
        wasm_v128_store(o + k, v);
        /* Control characters, bytes from 0x80 (negative) and '\\'. */
        v128_t special = wasm_v128_or(wasm_v128_or(wasm_u8x16_lt(v, space), wasm_i8x16_lt(v, wasm_i8x16_splat(0))),
                                      wasm_i8x16_eq(v, backslash));
        uint32_t m = wasm_i8x16_bitmask(special);
        if (m != 0) {
            k += (size_t)__builtin_ctz(m);
            return k < l ? k : l;
        }
        k += 16;
    }
    if (k >= l) {
        return l;
    }
#else
    (void)end;
#endif
    for (; k < l && s[k] >= 0x20 && s[k] < 0x80 && s[k] != '\\'; k++) {
        o[k] = (char)s[k];
    }
    return k;
}

/* ---- A validating JSON scanner ---- */

typedef struct {
    const unsigned char *in;
    size_t n, i;
    /* base is subtracted from offsets in error messages: the batch's
     * start, since Go's errors count from there. */
    size_t base;
    const char *err; /* the error, when a function returned 0 */
} scanner;

static int fail(scanner *s, const char *msg) {
    s->err = msg;
    return 0;
}

static inline void ws(scanner *s) {
    while (s->i < s->n) {
        unsigned char c = s->in[s->i];
        if (c != ' ' && c != '\n' && c != '\t' && c != '\r') {
            return;
        }
        s->i++;
    }
}

/* plain returns the index of the first '"' or '\\' in in[i:n], or n. It
 * compares 16 bytes at a time with WASM SIMD when the module is built
 * with it (-msimd128): fewer loop iterations, which the host's fuel meter
 * counts, and far fewer instructions on the one loop that sees nearly
 * every byte of a batch. */
static inline size_t plain(const unsigned char *in, size_t i, size_t n) {
#ifdef __wasm_simd128__
    const v128_t quote = wasm_i8x16_splat('"'), backslash = wasm_i8x16_splat('\\');
    for (; i + 16 <= n; i += 16) {
        v128_t v = wasm_v128_load(in + i);
        uint32_t m = wasm_i8x16_bitmask(wasm_v128_or(wasm_i8x16_eq(v, quote), wasm_i8x16_eq(v, backslash)));
        if (m != 0) {
            return i + (size_t)__builtin_ctz(m);
        }
    }
#endif
    while (i < n && in[i] != '"' && in[i] != '\\') {
        i++;
    }
    return i;
}

/* str skips the string at s->i, checking its escapes, and returns the
 * bounds of its contents in *a, *b; *escaped tells whether it has any.
 * Control characters are caught where a value is decoded, as in Go. */
static int str(scanner *s, size_t *a, size_t *b, int *escaped) {
    const unsigned char *in = s->in;
    size_t i = s->i + 1, n = s->n;
    *a = i;
    *escaped = 0;
    for (;;) {
        /* The common case: plain bytes up to the closing quote. */
        i = plain(in, i, n);
        if (i >= n) {
            s->i = n;
            return fail(s, "unterminated string");
        }
        if (in[i] == '"') {
            *b = i;
            s->i = i + 1;
            return 1;
        }
        *escaped = 1;
        if (i + 1 >= n) {
            s->i = n;
            return fail(s, "unterminated string");
        }
        switch (in[i + 1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            i += 2;
            break;
        case 'u':
            if (i + 6 > n || hexval(in[i + 2]) < 0 || hexval(in[i + 3]) < 0 ||
                hexval(in[i + 4]) < 0 || hexval(in[i + 5]) < 0) {
                s->i = i;
                return fail(s, "invalid escape");
            }
            i += 6;
            break;
        default:
            s->i = i;
            return fail(s, "invalid escape");
        }
    }
}

/* number skips the number at s->i, checking its grammar. */
static int number(scanner *s) {
    const unsigned char *in = s->in;
    size_t i = s->i, n = s->n, d;
    if (i < n && in[i] == '-') i++;
    if (i < n && in[i] == '0') {
        i++;
    } else {
        for (d = i; i < n && in[i] >= '0' && in[i] <= '9'; i++) {}
        if (i == d) {
            s->i = i;
            return fail(s, "invalid number");
        }
    }
    if (i < n && in[i] == '.') {
        for (d = ++i; i < n && in[i] >= '0' && in[i] <= '9'; i++) {}
        if (i == d) {
            s->i = i;
            return fail(s, "invalid number");
        }
    }
    if (i < n && (in[i] == 'e' || in[i] == 'E')) {
        i++;
        if (i < n && (in[i] == '+' || in[i] == '-')) i++;
        for (d = i; i < n && in[i] >= '0' && in[i] <= '9'; i++) {}
        if (i == d) {
            s->i = i;
            return fail(s, "invalid number");
        }
    }
    s->i = i;
    return 1;
}

static int literal(scanner *s, const char *word, size_t l) {
    if (s->n - s->i < l || memcmp(s->in + s->i, word, l) != 0) {
        return fail(s, "invalid literal");
    }
    s->i += l;
    return 1;
}

/* value skips the value at s->i, checking it. Nested objects and arrays
 * are walked without recursion: a bit per level says which is open. */
static int value(scanner *s) {
    unsigned char objects[MAX_DEPTH / 8 + 1];
    int depth = 0;
    size_t a, b;
    int esc;
    for (;;) {
        /* At a value. */
        if (s->i >= s->n) {
            return fail(s, "unexpected end");
        }
        unsigned char c = s->in[s->i];
        int opened = 0;
        if (c == '"') {
            if (!str(s, &a, &b, &esc)) return 0;
        } else if (c == '{' || c == '[') {
            if (depth >= MAX_DEPTH) {
                return fail(s, "nested too deep");
            }
            if (c == '{') {
                objects[depth / 8] |= (unsigned char)(1 << depth % 8);
            } else {
                objects[depth / 8] &= (unsigned char)~(1 << depth % 8);
            }
            depth++;
            s->i++;
            ws(s);
            if (s->i < s->n && s->in[s->i] == (c == '{' ? '}' : ']')) {
                s->i++;
                depth--;
            } else {
                opened = 1;
            }
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            if (!number(s)) return 0;
        } else if (c == 't') {
            if (!literal(s, "true", 4)) return 0;
        } else if (c == 'f') {
            if (!literal(s, "false", 5)) return 0;
        } else if (c == 'n') {
            if (!literal(s, "null", 4)) return 0;
        } else {
            return fail(s, "invalid character");
        }
        /* After a value (or just inside a new container): find the next
         * value, closing the containers that end here. */
        for (;;) {
            if (depth == 0) {
                return 1;
            }
            int obj = objects[(depth - 1) / 8] >> (depth - 1) % 8 & 1;
            if (!opened) {
                ws(s);
                if (s->i < s->n && s->in[s->i] == ',') {
                    s->i++;
                } else if (s->i < s->n && s->in[s->i] == (obj ? '}' : ']')) {
                    s->i++;
                    depth--;
                    continue;
                } else {
                    return fail(s, "expected , or the end of an object or array");
                }
            }
            ws(s);
            if (obj) {
                if (s->i >= s->n || s->in[s->i] != '"') {
                    return fail(s, "expected a key");
                }
                if (!str(s, &a, &b, &esc)) return 0;
                ws(s);
                if (s->i >= s->n || s->in[s->i] != ':') {
                    return fail(s, "expected : after a key");
                }
                s->i++;
                ws(s);
            }
            break;
        }
    }
}

/* ---- Fields of an event ---- */

/* key_is reports whether the key s[a:b] (escaped or not) equals name,
 * ASCII case folded as encoding/json matches struct fields; -1 when an
 * escaped key does not decode. */
static int key_is(const unsigned char *in, size_t a, size_t b, int escaped, const char *name, size_t l) {
    char tmp[3 * 8];
    const unsigned char *k = in + a;
    size_t kl = b - a;
    if (escaped) {
        if (kl > 8 * 6) {
            /* Longer than any escaped form of a short name, but still
             * checked for control characters as Go does. */
            for (size_t i = a; i < b; i++) {
                if (in[i] < 0x20) return -1;
            }
            return 0;
        }
        long d = decode(k, kl, tmp);
        if (d < 0) return -1;
        k = (const unsigned char *)tmp;
        kl = (size_t)d;
    }
    if (kl != l) return 0;
    for (size_t i = 0; i < l; i++) {
        unsigned char c = k[i];
        if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
        if (c != (unsigned char)name[i]) return 0;
    }
    return 1;
}

/* field_error sets errmsg to "decode the batch: field <name>: <v> is not
 * <what>". */
static int field_error(scanner *s, const char *name, size_t vs, size_t ve, const char *what) {
    errmsg.len = 0;
    if (!reserve(&errmsg, ve - vs + 64)) return 0;
    put(&errmsg, "decode the batch: field ", 24);
    put(&errmsg, name, strlen(name));
    put(&errmsg, ": ", 2);
    put(&errmsg, s->in + vs, ve - vs);
    put(&errmsg, " is not ", 8);
    put(&errmsg, what, strlen(what));
    s->err = "";
    return 0;
}

/* control_error sets errmsg to Go's message for the first control
 * character of the ip string s[0:n]: "invalid character '\n' in string
 * literal", the character quoted as strconv.Quote quotes it. */
static int control_error(scanner *s, const unsigned char *v, size_t n) {
    static const char hex[] = "0123456789abcdef";
    static const char *named[] = {[7] = "\\a", [8] = "\\b", [9] = "\\t", [10] = "\\n",
                                  [11] = "\\v", [12] = "\\f", [13] = "\\r"};
    size_t i = 0;
    while (i < n && v[i] >= 0x20) {
        i++;
    }
    unsigned char c = i < n ? v[i] : 0;
    char q[5] = {'\\', 'x', hex[c >> 4], hex[c & 15], 0};
    errmsg.len = 0;
    if (!puts_(&errmsg, "decode the batch: field ip: invalid character '") ||
        !puts_(&errmsg, c < 14 && named[c] ? named[c] : q) ||
        !puts_(&errmsg, "' in string literal")) {
        return fail(s, "out of memory");
    }
    s->err = "";
    return 0;
}

/* parse_int reads the integer in[a:b] as strconv.ParseInt does; 0 when it
 * is no integer or out of range. */
static int parse_int(const unsigned char *in, size_t a, size_t b, int64_t *v) {
    int neg = a < b && in[a] == '-';
    if (neg || (a < b && in[a] == '+')) a++;
    if (a == b) return 0;
    uint64_t u = 0, limit = neg ? (uint64_t)1 << 63 : ((uint64_t)1 << 63) - 1;
    for (size_t i = a; i < b; i++) {
        if (in[i] < '0' || in[i] > '9') return 0;
        unsigned d = in[i] - '0';
        if (u > (limit - d) / 10) return 0;
        u = u * 10 + d;
    }
    *v = neg ? (int64_t)(0 - u) : (int64_t)u;
    return 1;
}

/* space_end returns the index of the first byte of in[i:n] that is no
 * JSON white space, or n. */
static inline size_t space_end(const unsigned char *in, size_t i, size_t n) {
    while (i < n && (in[i] == ' ' || in[i] == '\n' || in[i] == '\t' || in[i] == '\r')) {
        i++;
    }
    return i;
}

/* str_end returns the index after the string starting at s->in[i], or 0
 * on an error, set in s; *escaped tells whether it has escapes. Strings
 * without any are handled inline, the others by str. */
static inline size_t str_end(scanner *s, size_t i, int *escaped) {
    size_t j = plain(s->in, i + 1, s->n);
    if (j < s->n && s->in[j] == '"') {
        *escaped = 0;
        return j + 1;
    }
    size_t a, b;
    s->i = i;
    return str(s, &a, &b, escaped) ? s->i : 0;
}

/* event reads the object at s->i and appends its line "<ip> <port>\n" to
 * text. The members "ip" and "port" are remembered as the object is
 * scanned (the last one wins) and decoded at its end. It is the loop that
 * sees every byte of a batch, so its state (the position, the input) is
 * kept in locals, which a WASM compiler keeps in registers, and s is
 * updated only on the way out. */
static int event(scanner *s) {
    const unsigned char *in = s->in;
    const size_t n = s->n;
    size_t i = s->i + 1; /* after { */
    size_t ipa = 0, ipb = 0, pa = 0, pb = 0; /* value bounds; b == 0: none */
    i = space_end(in, i, n);
    if (i < n && in[i] == '}') {
        i++;
    } else {
        for (;;) {
            size_t ka, kb, va;
            int esc;
            i = space_end(in, i, n);
            if (i >= n || in[i] != '"') {
                s->i = i;
                return fail(s, "expected a key");
            }
            ka = i + 1;
            if ((i = str_end(s, i, &esc)) == 0) return 0;
            kb = i - 1;
            /* 1: ip, 2: port, 0: anything else. */
            int which = 0;
            if (!esc && kb - ka == 2) {
                which = (in[ka] | 0x20) == 'i' && (in[ka + 1] | 0x20) == 'p';
            } else if (!esc && kb - ka == 4) {
                which = key_is(in, ka, kb, 0, "port", 4) ? 2 : 0;
            } else if (esc) {
                int r = key_is(in, ka, kb, 1, "ip", 2);
                if (r < 0) {
                    s->i = i;
                    return fail(s, "invalid key");
                }
                which = r ? 1 : key_is(in, ka, kb, 1, "port", 4) ? 2 : 0;
            }
            i = space_end(in, i, n);
            if (i >= n || in[i] != ':') {
                s->i = i;
                return fail(s, "expected : after a key");
            }
            i = space_end(in, i + 1, n);
            va = i;
            if (i < n && in[i] == '"') {
                if ((i = str_end(s, i, &esc)) == 0) return 0;
            } else if (i + 1 < n && in[i] >= '1' && in[i] <= '9') {
                /* A plain integer, the common case; a fraction or an
                 * exponent takes number. */
                for (i++; i < n && in[i] >= '0' && in[i] <= '9'; i++) {
                }
                if (i < n && (in[i] == '.' || in[i] == 'e' || in[i] == 'E')) {
                    s->i = va;
                    if (!number(s)) return 0;
                    i = s->i;
                }
            } else {
                s->i = i;
                if (!value(s)) return 0;
                i = s->i;
            }
            if (which == 1) {
                ipa = va, ipb = i;
            } else if (which == 2) {
                pa = va, pb = i;
            }
            i = space_end(in, i, n);
            if (i < n && in[i] == ',') {
                i++;
                continue;
            }
            if (i < n && in[i] == '}') {
                i++;
                break;
            }
            s->i = i;
            return fail(s, "expected , or } in an object");
        }
    }
    s->i = i;
    /* The line: room for the decoded ip (3 bytes per byte at most, 16
     * more for copy_plain), a port and the separators. */
    if (!reserve(&text, 3 * (ipb - ipa) + 40)) {
        return fail(s, "out of memory");
    }
    char *o = text.p + text.len;
    if (ipb != 0 && in[ipa] != 'n') {
        if (in[ipa] != '"') {
            return field_error(s, "ip", ipa, ipb, "a string");
        }
        /* Most ips are plain: copied as they are, then the rest decoded. */
        size_t l = ipb - ipa - 2, k = copy_plain(in + ipa + 1, l, in + n, o);
        long d = k == l ? 0 : decode(in + ipa + 1 + k, l - k, o + k);
        if (d < 0) {
            return control_error(s, in + ipa + 1, l);
        }
        o += k + (size_t)d;
    }
    int64_t port = 0;
    if (pb != 0 && in[pa] != 'n' && !parse_int(in, pa, pb, &port)) {
        return field_error(s, "port", pa, pb, "an integer");
    }
    *o++ = ' ';
    o = format_int(o, port);
    *o++ = '\n';
    text.len = (size_t)(o - text.p);
    return 1;
}

/* batch reads the array at s->i, appending a line per event to text, and
 * returns the number of events, or -1. A null element is an empty event. */
static long batch(scanner *s) {
    long count = 0;
    s->base = s->i;
    if (s->i >= s->n || s->in[s->i] != '[') {
        fail(s, "the batch is not a JSON array");
        return -1;
    }
    s->i++;
    ws(s);
    if (s->i < s->n && s->in[s->i] == ']') {
        s->i++;
        return 0;
    }
    for (;;) {
        ws(s);
        if (s->i < s->n && s->in[s->i] == '{') {
            if (!event(s)) return -1;
        } else if (s->n - s->i >= 4 && memcmp(s->in + s->i, "null", 4) == 0) {
            s->i += 4;
            if (!reserve(&text, 3)) {
                fail(s, "out of memory");
                return -1;
            }
            put(&text, " 0\n", 3);
        } else {
            fail(s, "an element of the batch is not a JSON object");
            return -1;
        }
        count++;
        ws(s);
        if (s->i < s->n && s->in[s->i] == ',') {
            s->i++;
            continue;
        }
        if (s->i < s->n && s->in[s->i] == ']') {
            s->i++;
            return count;
        }
        fail(s, "expected , or ] after an element of the batch");
        return -1;
    }
}

/* ---- The request ---- */

/* A parameter: offsets of its decoded key and value in scratch. */
typedef struct {
    size_t k, kl, v, vl;
} param;

static param *params;
static size_t nparams, capparams;

static int param_cmp(const void *x, const void *y) {
    const param *a = x, *b = y;
    size_t l = a->kl < b->kl ? a->kl : b->kl;
    int c = memcmp(scratch.p + a->k, scratch.p + b->k, l);
    if (c != 0) return c;
    return a->kl < b->kl ? -1 : a->kl > b->kl;
}

/* decode_into decodes the string at s->i into scratch and returns its
 * offset there, its length in *l; -1 on error. */
static long decode_into(scanner *s, size_t *l) {
    size_t a, b;
    int esc;
    if (s->i >= s->n || s->in[s->i] != '"') {
        fail(s, "expected a string");
        return -1;
    }
    if (!str(s, &a, &b, &esc)) return -1;
    if (!reserve(&scratch, 3 * (b - a))) {
        fail(s, "out of memory");
        return -1;
    }
    long d = decode(s->in + a, b - a, scratch.p + scratch.len);
    if (d < 0) {
        fail(s, "invalid character in string literal");
        return -1;
    }
    long off = (long)scratch.len;
    scratch.len += (size_t)d;
    *l = (size_t)d;
    return off;
}

/* parameters reads the object of string parameters at s->i (or null); a
 * repeated key keeps its last value. */
static int parameters(scanner *s) {
    if (s->i < s->n && s->in[s->i] == 'n') {
        return literal(s, "null", 4);
    }
    if (s->i >= s->n || s->in[s->i] != '{') {
        return fail(s, "parameters: expected an object of strings");
    }
    s->i++;
    ws(s);
    if (s->i < s->n && s->in[s->i] == '}') {
        s->i++;
        return 1;
    }
    for (;;) {
        size_t kl, vl = 0;
        ws(s);
        long k = decode_into(s, &kl);
        if (k < 0) return 0;
        ws(s);
        if (s->i >= s->n || s->in[s->i] != ':') {
            return fail(s, "expected : after a key");
        }
        s->i++;
        ws(s);
        long v = (long)scratch.len;
        if (s->i < s->n && s->in[s->i] == 'n') {
            if (!literal(s, "null", 4)) return 0;
        } else if ((v = decode_into(s, &vl)) < 0) {
            return 0;
        }
        size_t j;
        for (j = 0; j < nparams; j++) {
            if (params[j].kl == kl && memcmp(scratch.p + params[j].k, scratch.p + k, kl) == 0) {
                break;
            }
        }
        if (j == nparams) {
            if (nparams == capparams) {
                size_t c = capparams ? 2 * capparams : 16;
                param *p = realloc(params, c * sizeof *p);
                if (p == NULL) return fail(s, "out of memory");
                params = p;
                capparams = c;
            }
            nparams++;
        }
        params[j] = (param){(size_t)k, kl, (size_t)v, vl};
        ws(s);
        if (s->i < s->n && s->in[s->i] == ',') {
            s->i++;
            continue;
        }
        if (s->i < s->n && s->in[s->i] == '}') {
            s->i++;
            return 1;
        }
        return fail(s, "expected , or } in the parameters");
    }
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* base64 appends the standard base64 of a[0:an] followed by b[0:bn] to
 * o, which has room, and returns the end. */
static char *base64(char *o, const unsigned char *a, size_t an, const unsigned char *b, size_t bn) {
    unsigned char t[3];
    size_t tn = 0;
    /* Whole triples of a, then one triple across a and b, then b. */
    size_t i = 0;
    for (; i + 3 <= an; i += 3) {
        uint32_t v = (uint32_t)a[i] << 16 | (uint32_t)a[i + 1] << 8 | a[i + 2];
        *o++ = b64[v >> 18];
        *o++ = b64[v >> 12 & 63];
        *o++ = b64[v >> 6 & 63];
        *o++ = b64[v & 63];
    }
    for (; i < an; i++) t[tn++] = a[i];
    size_t j = 0;
    while (tn > 0 && tn < 3 && j < bn) t[tn++] = b[j++];
    if (tn == 3) {
        uint32_t v = (uint32_t)t[0] << 16 | (uint32_t)t[1] << 8 | t[2];
        *o++ = b64[v >> 18];
        *o++ = b64[v >> 12 & 63];
        *o++ = b64[v >> 6 & 63];
        *o++ = b64[v & 63];
        tn = 0;
    }
    for (; j + 3 <= bn; j += 3) {
        uint32_t v = (uint32_t)b[j] << 16 | (uint32_t)b[j + 1] << 8 | b[j + 2];
        *o++ = b64[v >> 18];
        *o++ = b64[v >> 12 & 63];
        *o++ = b64[v >> 6 & 63];
        *o++ = b64[v & 63];
    }
    for (; j < bn; j++) t[tn++] = b[j];
    if (tn > 0) {
        uint32_t v = (uint32_t)t[0] << 16 | (tn > 1 ? (uint32_t)t[1] << 8 : 0);
        *o++ = b64[v >> 18];
        *o++ = b64[v >> 12 & 63];
        *o++ = tn > 1 ? b64[v >> 6 & 63] : '=';
        *o++ = '=';
    }
    return o;
}

/* respond_error sets the response to {"error":"<msg as a JSON string>"}. */
static uint64_t respond_error(const char *msg, size_t n) {
    static const char hex[] = "0123456789abcdef";
    response.len = 0;
    if (!reserve(&response, 6 * n + 16)) {
        return 0;
    }
    put(&response, "{\"error\":\"", 10);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)msg[i];
        if (c == '"' || c == '\\') {
            response.p[response.len++] = '\\';
            response.p[response.len++] = (char)c;
        } else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(&response, e, 6);
        } else {
            response.p[response.len++] = (char)c;
        }
    }
    put(&response, "\"}", 2);
    return pack(response.p, response.len);
}

/* request_error answers a malformed request or batch with Go's message. */
static uint64_t request_error(scanner *s, int in_batch) {
    if (s->err[0] == '\0') { /* errmsg holds the message */
        return respond_error(errmsg.p, errmsg.len);
    }
    char m[160];
    int l;
    if (in_batch && strcmp(s->err, "unterminated string") == 0) {
        l = snprintf(m, sizeof m, "decode the batch: invalid JSON: %s", s->err);
    } else if (in_batch) {
        l = snprintf(m, sizeof m, "decode the batch: invalid JSON: %s at offset %zu", s->err, s->i - s->base);
    } else {
        l = snprintf(m, sizeof m, "decode the request: %s at offset %zu", s->err, s->i);
    }
    return respond_error(m, l < (int)sizeof m ? (size_t)l : sizeof m - 1);
}

__attribute__((export_name("gadget_call")))
uint64_t gadget_call(uint32_t ptr, uint32_t len) {
    const unsigned char *req = (const unsigned char *)(uintptr_t)ptr;
    scanner s = {req, len, 0, 0, NULL};
    long gadget = 0, count = -1;
    size_t gadgetl = 0;
    uint64_t sequence = 0;
    int final = 0, raw = 0, batch_failed = 0;
    uint64_t result;

    text.len = head.len = scratch.len = 0;
    nparams = 0;

    /* The request is one object; the host puts the batch last, so the
     * parameters, whose "fail" wins over a bad batch, are known by the
     * time the batch is read, in place. */
    ws(&s);
    if (s.i >= s.n || req[s.i] != '{') {
        fail(&s, "expected an object");
        goto bad;
    }
    s.i++;
    for (;;) {
        size_t ka, kb;
        int esc;
        ws(&s);
        if (s.i >= s.n || req[s.i] != '"') {
            fail(&s, "expected a key");
            goto bad;
        }
        if (!str(&s, &ka, &kb, &esc)) goto bad;
        ws(&s);
        if (s.i >= s.n || req[s.i] != ':') {
            fail(&s, "expected : after a key");
            goto bad;
        }
        s.i++;
        ws(&s);
#define KEY(name) key_is(req, ka, kb, esc, name, sizeof name - 1) == 1
        if (KEY("gadget")) {
            if (s.i < s.n && req[s.i] == 'n') {
                if (!literal(&s, "null", 4)) goto bad;
            } else if ((gadget = decode_into(&s, &gadgetl)) < 0) {
                goto bad;
            }
        } else if (KEY("sequence")) {
            size_t a = s.i;
            if (!number(&s)) goto bad;
            sequence = 0;
            for (size_t i = a; i < s.i; i++) {
                if (req[i] < '0' || req[i] > '9') {
                    fail(&s, "sequence: expected an unsigned integer");
                    goto bad;
                }
                sequence = sequence * 10 + (req[i] - '0');
            }
        } else if (KEY("final")) {
            if (s.i < s.n && req[s.i] == 't') {
                if (!literal(&s, "true", 4)) goto bad;
                final = 1;
            } else if (s.i < s.n && req[s.i] == 'f') {
                if (!literal(&s, "false", 5)) goto bad;
                final = 0;
            } else if (!literal(&s, "null", 4)) {
                goto bad;
            }
        } else if (KEY("rawdata")) {
            /* The host accepts a raw response: the byte 0x00, then the
             * output as it is, with no base64 to write or decode. */
            if (s.i < s.n && req[s.i] == 't') {
                if (!literal(&s, "true", 4)) goto bad;
                raw = 1;
            } else if (s.i < s.n && req[s.i] == 'f') {
                if (!literal(&s, "false", 5)) goto bad;
                raw = 0;
            } else if (!literal(&s, "null", 4)) {
                goto bad;
            }
        } else if (KEY("parameters")) {
            nparams = 0;
            if (!parameters(&s)) goto bad;
        } else if (KEY("batch")) {
            text.len = 0;
            if ((count = batch(&s)) < 0) {
                batch_failed = 1;
                break;
            }
            /* The batch is the last member: anything else after it is
             * reported as the Go SDK reports it. */
            ws(&s);
            if (s.i >= s.n || (req[s.i] != '}' && req[s.i] != ',')) {
                fail(&s, "data after the batch");
                batch_failed = 1;
                break;
            }
        } else if (!value(&s)) {
            goto bad;
        }
#undef KEY
        ws(&s);
        if (s.i < s.n && req[s.i] == ',') {
            s.i++;
            continue;
        }
        if (s.i < s.n && req[s.i] == '}') {
            break;
        }
        fail(&s, "expected , or } in the request");
        goto bad;
    }

    /* The parameter "fail" fails the call with its value. */
    for (size_t j = 0; j < nparams; j++) {
        if (params[j].kl == 4 && memcmp(scratch.p + params[j].k, "fail", 4) == 0) {
            result = respond_error(scratch.p + params[j].v, params[j].vl);
            free((void *)req);
            return result;
        }
    }
    if (batch_failed) {
        result = request_error(&s, 1);
        free((void *)req);
        return result;
    }
    if (count < 0) {
        s.i = 0;
        s.base = 0;
        fail(&s, "the batch is not a JSON array");
        result = request_error(&s, 1);
        free((void *)req);
        return result;
    }

    /* The header line, then the response: header and lines, raw or as
     * base64 in JSON. */
    qsort(params, nparams, sizeof *params, param_cmp);
    if (!reserve(&head, gadgetl + 80)) goto oom;
    put(&head, scratch.p + gadget, gadgetl);
    put(&head, " #", 2);
    {
        char num[24];
        int l = snprintf(num, sizeof num, "%llu", (unsigned long long)sequence);
        put(&head, num, (size_t)l);
    }
    if (final) {
        put(&head, " final=true events=", 19);
    } else {
        put(&head, " final=false events=", 20);
    }
    head.len = (size_t)(format_int(head.p + head.len, count) - head.p);
    put(&head, " params=", 8);
    for (size_t j = 0; j < nparams; j++) {
        if (!reserve(&head, params[j].kl + params[j].vl + 2)) goto oom;
        if (j > 0) head.p[head.len++] = ',';
        put(&head, scratch.p + params[j].k, params[j].kl);
        head.p[head.len++] = '=';
        put(&head, scratch.p + params[j].v, params[j].vl);
    }
    if (!reserve(&head, 1)) goto oom;
    head.p[head.len++] = '\n';

    response.len = 0;
    if (raw) {
        if (!reserve(&response, 1 + head.len + text.len)) goto oom;
        response.p[response.len++] = 0;
        put(&response, head.p, head.len);
        put(&response, text.p, text.len);
        free((void *)req);
        return pack(response.p, response.len);
    }
    if (!reserve(&response, 4 * ((head.len + text.len) / 3 + 1) + 16)) goto oom;
    put(&response, "{\"data\":\"", 9);
    response.len = (size_t)(base64(response.p + response.len, (unsigned char *)head.p, head.len,
                                   (unsigned char *)text.p, text.len) - response.p);
    put(&response, "\"}", 2);
    free((void *)req);
    return pack(response.p, response.len);

bad:
    result = request_error(&s, 0);
    free((void *)req);
    return result;
oom:
    free((void *)req);
    return respond_error("out of memory", 13);
}
