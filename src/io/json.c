/* json.c — strict JSON reader (recursive descent into an arena) and writer (see json.h).
 *
 * Safety argument of the reader: every access is guarded by `p < end`; strings are scanned
 * once to find their closing quote (so their decoded size is bounded by their raw size) and
 * decoded in a second pass that never looks past that quote; recursion depth is capped by
 * max_depth; every node and string comes from one arena whose total is capped by max_memory.
 * Object members are sorted once when the object closes: duplicate keys are found in
 * O(n log n) and lookups are binary searches.
 */
#include "json.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- "C" locale for number conversion (setlocale must not turn '.' into ',') ---- */

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static void c_locale_init(void) { c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0); }
static locale_t get_c_locale(void) {
    pthread_once(&c_locale_once, c_locale_init);
    return c_locale;
}

static double strtod_c(const char *s, char **end) {
    locale_t loc = get_c_locale();
    return loc ? strtod_l(s, end, loc) : strtod(s, end);
}

/* ---- arena ---- */

typedef struct chunk {
    struct chunk *next;
    size_t cap, used;
    alignas(max_align_t) unsigned char data[];
} chunk;

struct lctw_json_doc {
    chunk *chunks;
    size_t total, limit; /* bytes malloc'ed for chunks / allowed */
    lctw_json *root;
};

#define ARENA_CHUNK ((size_t)64 << 10)

static void *arena_alloc(lctw_json_doc *d, size_t n) {
    const size_t al = alignof(max_align_t);
    n = (n + al - 1) / al * al;
    chunk *c = d->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        if (d->total + cap + sizeof(chunk) > d->limit) {
            LCTW_FAIL(LCTW_ENOMEM,
                      "JSON document needs more than %zu bytes of memory (the parser's limit)",
                      d->limit);
            return NULL;
        }
        c = malloc(sizeof(chunk) + cap);
        if (!c) {
            LCTW_FAIL(LCTW_ENOMEM, "out of memory parsing JSON (%zu bytes so far)", d->total);
            return NULL;
        }
        c->cap = cap;
        c->used = 0;
        c->next = d->chunks;
        d->chunks = c;
        d->total += sizeof(chunk) + cap;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

/* ---- reader ---- */

typedef struct {
    const unsigned char *s, *p, *end;
    lctw_json_doc *doc;
    int depth, max_depth;
} parser;

static lctw_status syntax_error(const parser *ps, const unsigned char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static lctw_status syntax_error(const parser *ps, const unsigned char *at, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return LCTW_FAIL(LCTW_EFORMAT, "JSON syntax error at byte %zu: %s", (size_t)(at - ps->s), msg);
}

/* "'x'", "byte 0xNN" or "end of input" for the byte at p. */
static const char *describe(const parser *ps, const unsigned char *p, char *buf, size_t n) {
    if (p >= ps->end)
        snprintf(buf, n, "end of input");
    else if (*p >= 0x20 && *p < 0x7f)
        snprintf(buf, n, "'%c'", *p);
    else
        snprintf(buf, n, "byte 0x%02x", *p);
    return buf;
}

static void skip_ws(parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static lctw_json *new_node(parser *ps, lctw_json_type t, const unsigned char *at) {
    lctw_json *v = arena_alloc(ps->doc, sizeof *v);
    if (!v) return NULL;
    memset(v, 0, sizeof *v);
    v->type = t;
    v->offset = (size_t)(at - ps->s);
    return v;
}

/* Length of the UTF-8 sequence at s[0..n) (1..4), or 0 if it is invalid. */
static int utf8_seq(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    int len;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0; /* no overlongs */
        if (c == 0xed) hi = 0x9f; /* no UTF-16 surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90; /* no overlongs */
        if (c == 0xf4) hi = 0x8f; /* at most U+10FFFF */
    } else
        return 0;
    if ((size_t)len > n) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (int k = 2; k < len; k++)
        if (s[k] < 0x80 || s[k] > 0xbf) return 0;
    return len;
}

int lctw_utf8_valid(const char *s, size_t n, size_t *bad) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        int k = utf8_seq(u + i, n - i);
        if (!k) {
            if (bad) *bad = i;
            return 0;
        }
        i += (size_t)k;
    }
    return 1;
}

static size_t put_utf8(unsigned char *o, uint32_t cp) {
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xc0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xe0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (unsigned char)(0xf0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Four hex digits at p (the caller checked they are inside the string), or -1. */
static int32_t hex4(const unsigned char *p) {
    int32_t v = 0;
    for (int k = 0; k < 4; k++) {
        unsigned char c = p[k];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* ps->p at the opening quote. On success *out is the decoded NUL-terminated string. */
static lctw_status parse_string(parser *ps, const char **out, size_t *out_len) {
    const unsigned char *open = ps->p, *start = ps->p + 1;
    size_t avail = (size_t)(ps->end - start), i = 0;
    /* pass 1: find the closing quote (a backslash hides the next byte) */
    for (;;) {
        if (i >= avail) return syntax_error(ps, open, "unterminated string (no closing '\"')");
        if (start[i] == '"') break;
        i += start[i] == '\\' ? 2 : 1;
    }
    const unsigned char *q = start + i; /* the closing quote, q < end */
    unsigned char *o = arena_alloc(ps->doc, i + 1);
    if (!o) return lctw_error_code();
    size_t n = 0;
    const unsigned char *r = start;
    while (r < q) {
        unsigned char c = *r;
        if (c < 0x20)
            return syntax_error(ps, r, "control character 0x%02x in a string (must be escaped)", c);
        if (c >= 0x80) {
            int k = utf8_seq(r, (size_t)(q - r));
            if (!k) return syntax_error(ps, r, "invalid UTF-8 byte 0x%02x in a string", c);
            memcpy(o + n, r, (size_t)k);
            n += (size_t)k;
            r += k;
            continue;
        }
        if (c != '\\') {
            o[n++] = c;
            r++;
            continue;
        }
        /* escape: r + 1 < q because pass 1 skipped the escaped byte before finding q */
        unsigned char e = r[1];
        switch (e) {
        case '"': o[n++] = '"'; break;
        case '\\': o[n++] = '\\'; break;
        case '/': o[n++] = '/'; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'n': o[n++] = '\n'; break;
        case 'r': o[n++] = '\r'; break;
        case 't': o[n++] = '\t'; break;
        case 'u': {
            if (q - r < 6) return syntax_error(ps, r, "\\u escape needs four hex digits");
            int32_t cp = hex4(r + 2);
            if (cp < 0) return syntax_error(ps, r, "\\u escape needs four hex digits");
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return syntax_error(ps, r, "lone low surrogate \\u%04X", (unsigned)cp);
            if (cp >= 0xd800 && cp <= 0xdbff) {
                int32_t lo = -1;
                if (q - r >= 12 && r[6] == '\\' && r[7] == 'u') lo = hex4(r + 8);
                if (lo < 0xdc00 || lo > 0xdfff)
                    return syntax_error(ps, r,
                                        "high surrogate \\u%04X not followed by a low surrogate",
                                        (unsigned)cp);
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                r += 6;
            }
            n += put_utf8(o + n, (uint32_t)cp);
            r += 6;
            continue;
        }
        default:
            if (e >= 0x20 && e < 0x7f)
                return syntax_error(ps, r, "invalid escape '\\%c' in a string", e);
            return syntax_error(ps, r, "invalid escape: byte 0x%02x after '\\' in a string", e);
        }
        r += 2;
    }
    o[n] = 0;
    *out = (const char *)o;
    *out_len = n;
    ps->p = q + 1;
    return LCTW_OK;
}

static int is_digit(const parser *ps, const unsigned char *p) {
    return p < ps->end && *p >= '0' && *p <= '9';
}

static lctw_status parse_number(parser *ps, lctw_json *v) {
    const unsigned char *p = ps->p, *start = p;
    int neg = 0, is_int = 1;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (!is_digit(ps, p)) {
        char d[24];
        return syntax_error(ps, p, "expected a digit in a number, got %s",
                            describe(ps, p, d, sizeof d));
    }
    if (*p == '0') {
        p++;
        if (is_digit(ps, p)) return syntax_error(ps, start, "numbers may not have leading zeros");
    } else {
        while (is_digit(ps, p))
            p++;
    }
    const unsigned char *int_end = p;
    if (p < ps->end && *p == '.') {
        is_int = 0;
        p++;
        if (!is_digit(ps, p)) return syntax_error(ps, p, "expected a digit after '.'");
        while (is_digit(ps, p))
            p++;
    }
    if (p < ps->end && (*p == 'e' || *p == 'E')) {
        is_int = 0;
        p++;
        if (p < ps->end && (*p == '+' || *p == '-')) p++;
        if (!is_digit(ps, p)) return syntax_error(ps, p, "expected a digit in the exponent");
        while (is_digit(ps, p))
            p++;
    }
    ps->p = p;
    if (is_int) {
        /* exact int64 when it fits: magnitude up to 2^63 - 1, or 2^63 when negative */
        uint64_t mag = 0, lim = neg ? (uint64_t)1 << 63 : ((uint64_t)1 << 63) - 1;
        int fits = 1;
        for (const unsigned char *d = start + neg; d < int_end; d++) {
            uint64_t dig = (uint64_t)(*d - '0');
            if (mag > (lim - dig) / 10) {
                fits = 0;
                break;
            }
            mag = mag * 10 + dig;
        }
        if (fits) {
            v->is_int = 1;
            v->i = neg ? (mag == (uint64_t)1 << 63 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
            v->num = neg && mag == 0 ? -0.0 : (double)v->i;
            return LCTW_OK;
        }
    }
    char buf[1024];
    size_t n = (size_t)(p - start);
    if (n >= sizeof buf)
        return syntax_error(ps, start, "number with more than %zu characters", sizeof buf - 1);
    memcpy(buf, start, n);
    buf[n] = 0;
    v->num = strtod_c(buf, NULL);
    if (isinf(v->num)) return syntax_error(ps, start, "number out of range for a double");
    return LCTW_OK;
}

static lctw_status parse_value(parser *ps, lctw_json **out);

static int key_cmp(const lctw_json *a, const lctw_json *b) {
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = memcmp(a->key, b->key, n);
    if (c) return c;
    return a->key_len < b->key_len ? -1 : a->key_len > b->key_len;
}

static int member_cmp(const void *x, const void *y) {
    const lctw_json *a = *(lctw_json *const *)x, *b = *(lctw_json *const *)y;
    int c = key_cmp(a, b);
    if (c) return c;
    return a->offset < b->offset ? -1 : a->offset > b->offset; /* deterministic among duplicates */
}

/* Fills v->items (and v->sorted for objects) from the sibling list. */
static lctw_status finish_container(parser *ps, lctw_json *v, lctw_json *first) {
    if (!v->len) return LCTW_OK;
    v->items = arena_alloc(ps->doc, v->len * sizeof *v->items);
    if (!v->items) return lctw_error_code();
    size_t k = 0;
    for (lctw_json *c = first; c; c = c->next)
        v->items[k++] = c;
    if (v->type != LCTW_JSON_OBJECT) return LCTW_OK;
    v->sorted = arena_alloc(ps->doc, v->len * sizeof *v->sorted);
    if (!v->sorted) return lctw_error_code();
    memcpy(v->sorted, v->items, v->len * sizeof *v->sorted);
    qsort(v->sorted, v->len, sizeof *v->sorted, member_cmp);
    for (size_t j = 1; j < v->len; j++) {
        if (!key_cmp(v->sorted[j - 1], v->sorted[j])) {
            const lctw_json *d = v->sorted[j];
            /* the key string starts before its value: report the value's position */
            return syntax_error(ps, ps->s + d->offset, "duplicate key \"%.*s\" in an object",
                                (int)(d->key_len > 200 ? 200 : d->key_len), d->key);
        }
    }
    return LCTW_OK;
}

static lctw_status parse_container(parser *ps, lctw_json **out, int is_obj) {
    const unsigned char *open = ps->p;
    char d[24];
    if (ps->depth >= ps->max_depth)
        return syntax_error(ps, open, "nesting deeper than %d levels", ps->max_depth);
    lctw_json *v = new_node(ps, is_obj ? LCTW_JSON_OBJECT : LCTW_JSON_ARRAY, open);
    if (!v) return lctw_error_code();
    ps->depth++;
    ps->p++;
    lctw_json *first = NULL, *last = NULL;
    char close = is_obj ? '}' : ']';
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
    } else {
        for (;;) {
            const char *key = NULL;
            size_t key_len = 0;
            skip_ws(ps);
            if (is_obj) {
                if (ps->p >= ps->end || *ps->p != '"')
                    return syntax_error(ps, ps->p, "expected a string key%s, got %s",
                                        first ? "" : " or '}'", describe(ps, ps->p, d, sizeof d));
                LCTW_TRY(parse_string(ps, &key, &key_len));
                skip_ws(ps);
                if (ps->p >= ps->end || *ps->p != ':')
                    return syntax_error(ps, ps->p, "expected ':' after an object key, got %s",
                                        describe(ps, ps->p, d, sizeof d));
                ps->p++;
            }
            lctw_json *c;
            LCTW_TRY(parse_value(ps, &c));
            c->key = key;
            c->key_len = key_len;
            if (last)
                last->next = c;
            else
                first = c;
            last = c;
            v->len++;
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                continue;
            }
            if (ps->p < ps->end && *ps->p == close) {
                ps->p++;
                break;
            }
            return syntax_error(ps, ps->p, "expected ',' or '%c' after %s, got %s", close,
                                is_obj ? "an object member" : "an array element",
                                describe(ps, ps->p, d, sizeof d));
        }
    }
    ps->depth--;
    LCTW_TRY(finish_container(ps, v, first));
    *out = v;
    return LCTW_OK;
}

static lctw_status parse_literal(parser *ps, lctw_json **out) {
    static const struct {
        const char *word;
        lctw_json_type t;
        int b;
    } lits[] = {
        {"true", LCTW_JSON_BOOL, 1}, {"false", LCTW_JSON_BOOL, 0}, {"null", LCTW_JSON_NULL, 0}};
    size_t avail = (size_t)(ps->end - ps->p);
    for (size_t k = 0; k < sizeof lits / sizeof lits[0]; k++) {
        size_t n = strlen(lits[k].word);
        if (avail >= n && !memcmp(ps->p, lits[k].word, n)) {
            lctw_json *v = new_node(ps, lits[k].t, ps->p);
            if (!v) return lctw_error_code();
            v->boolean = lits[k].b;
            ps->p += n;
            *out = v;
            return LCTW_OK;
        }
    }
    return syntax_error(ps, ps->p, "invalid literal (expected true, false or null)");
}

static lctw_status parse_value(parser *ps, lctw_json **out) {
    skip_ws(ps);
    char d[24];
    if (ps->p >= ps->end)
        return syntax_error(ps, ps->p, "unexpected end of input, expected a value");
    unsigned char c = *ps->p;
    if (c == '{' || c == '[') return parse_container(ps, out, c == '{');
    if (c == 't' || c == 'f' || c == 'n') return parse_literal(ps, out);
    if (c == '"') {
        lctw_json *v = new_node(ps, LCTW_JSON_STRING, ps->p);
        if (!v) return lctw_error_code();
        LCTW_TRY(parse_string(ps, &v->str, &v->len));
        *out = v;
        return LCTW_OK;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        lctw_json *v = new_node(ps, LCTW_JSON_NUMBER, ps->p);
        if (!v) return lctw_error_code();
        LCTW_TRY(parse_number(ps, v));
        *out = v;
        return LCTW_OK;
    }
    return syntax_error(ps, ps->p, "unexpected %s, expected a value",
                        describe(ps, ps->p, d, sizeof d));
}

lctw_status lctw_json_parse(lctw_json_doc **out, const char *text, size_t len,
                            const lctw_json_opts *opts) {
    *out = NULL;
    if (!text && len) return LCTW_FAIL(LCTW_EINVAL, "lctw_json_parse: NULL text");
    lctw_json_doc *doc = calloc(1, sizeof *doc);
    if (!doc) return LCTW_FAIL(LCTW_ENOMEM, "out of memory parsing JSON");
    doc->limit = opts && opts->max_memory ? opts->max_memory : LCTW_JSON_DEFAULT_MEMORY;
    parser ps = {.s = (const unsigned char *)text,
                 .p = (const unsigned char *)text,
                 .end = (const unsigned char *)text + len,
                 .doc = doc,
                 .max_depth =
                     opts && opts->max_depth > 0 ? opts->max_depth : LCTW_JSON_DEFAULT_DEPTH};
    if (ps.max_depth > 1000) ps.max_depth = 1000; /* recursion: keep the C stack safe */
    lctw_status s = parse_value(&ps, &doc->root);
    if (s == LCTW_OK) {
        skip_ws(&ps);
        if (ps.p < ps.end) {
            char d[24];
            s = syntax_error(&ps, ps.p, "unexpected %s after the JSON value",
                             describe(&ps, ps.p, d, sizeof d));
        }
    }
    if (s != LCTW_OK) {
        lctw_json_free(doc);
        return s;
    }
    *out = doc;
    return LCTW_OK;
}

const lctw_json *lctw_json_root(const lctw_json_doc *doc) { return doc ? doc->root : NULL; }
size_t lctw_json_doc_memory(const lctw_json_doc *doc) { return doc ? doc->total : 0; }

void lctw_json_free(lctw_json_doc *doc) {
    if (!doc) return;
    for (chunk *c = doc->chunks, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    free(doc);
}

const lctw_json *lctw_json_getn(const lctw_json *v, const char *key, size_t key_len) {
    if (!v || v->type != LCTW_JSON_OBJECT) return NULL;
    lctw_json probe = {.key = key, .key_len = key_len};
    size_t lo = 0, hi = v->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_cmp(v->sorted[mid], &probe);
        if (c == 0) return v->sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const lctw_json *lctw_json_get(const lctw_json *v, const char *key) {
    return lctw_json_getn(v, key, strlen(key));
}

const char *lctw_json_type_name(lctw_json_type t) {
    switch (t) {
    case LCTW_JSON_NULL: return "null";
    case LCTW_JSON_BOOL: return "boolean";
    case LCTW_JSON_NUMBER: return "number";
    case LCTW_JSON_STRING: return "string";
    case LCTW_JSON_ARRAY: return "array";
    case LCTW_JSON_OBJECT: return "object";
    }
    return "?";
}

/* ---- writer ---- */

static void w_fail(lctw_json_writer *w, lctw_status code, const char *msg) {
    if (w->err == LCTW_OK) w->err = LCTW_FAIL(code, "JSON writer: %s", msg);
}

static void w_put(lctw_json_writer *w, const char *s, size_t n) {
    if (w->err) return;
    if (w->cap - w->len <= n) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap - w->len <= n) {
            if (cap > SIZE_MAX / 2) {
                w_fail(w, LCTW_ENOMEM, "output too large");
                return;
            }
            cap *= 2;
        }
        char *b = realloc(w->buf, cap);
        if (!b) {
            w_fail(w, LCTW_ENOMEM, "out of memory");
            return;
        }
        w->buf = b;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = 0;
}

static void w_puts(lctw_json_writer *w, const char *s) { w_put(w, s, strlen(s)); }

static void w_newline(lctw_json_writer *w) {
    if (!w->indent) return;
    w_put(w, "\n", 1);
    for (int k = 0; k < w->depth * w->indent; k++)
        w_put(w, " ", 1);
}

/* Separator and checks before a value; 0 if the value must not be written. */
static int w_before_value(lctw_json_writer *w) {
    if (w->err) return 0;
    if (w->done) {
        w_fail(w, LCTW_EINVAL, "a second top-level value");
        return 0;
    }
    if (w->after_key) {
        w->after_key = 0;
        return 1;
    }
    if (w->depth > 0) {
        if (w->is_object[w->depth - 1]) {
            w_fail(w, LCTW_EINVAL, "a value inside an object needs a key first");
            return 0;
        }
        if (w->nonempty[w->depth - 1]) w_put(w, ",", 1);
        w->nonempty[w->depth - 1] = 1;
        w_newline(w);
    }
    return 1;
}

static void w_after_value(lctw_json_writer *w) {
    if (w->depth == 0) w->done = 1;
}

void lctw_json_writer_init(lctw_json_writer *w, int indent) {
    memset(w, 0, sizeof *w);
    w->indent = indent < 0 ? 0 : indent > 16 ? 16 : indent;
}

static void w_begin(lctw_json_writer *w, int is_obj) {
    if (!w_before_value(w)) return;
    if (w->depth >= LCTW_JSON_WRITER_MAX_DEPTH) {
        w_fail(w, LCTW_EINVAL, "nesting too deep");
        return;
    }
    w_put(w, is_obj ? "{" : "[", 1);
    w->is_object[w->depth] = (unsigned char)is_obj;
    w->nonempty[w->depth] = 0;
    w->depth++;
}

static void w_end(lctw_json_writer *w, int is_obj) {
    if (w->err) return;
    if (w->depth == 0 || w->is_object[w->depth - 1] != is_obj || w->after_key) {
        w_fail(w, LCTW_EINVAL,
               is_obj ? "end_object without a matching begin_object (or after a key)"
                      : "end_array without a matching begin_array");
        return;
    }
    w->depth--;
    if (w->nonempty[w->depth]) w_newline(w);
    w_put(w, is_obj ? "}" : "]", 1);
    w_after_value(w);
}

void lctw_json_writer_begin_object(lctw_json_writer *w) { w_begin(w, 1); }
void lctw_json_writer_end_object(lctw_json_writer *w) { w_end(w, 1); }
void lctw_json_writer_begin_array(lctw_json_writer *w) { w_begin(w, 0); }
void lctw_json_writer_end_array(lctw_json_writer *w) { w_end(w, 0); }

static void w_quoted(lctw_json_writer *w, const char *s, size_t n) {
    size_t bad;
    if (!s) {
        w_fail(w, LCTW_EINVAL, "NULL string");
        return;
    }
    if (!lctw_utf8_valid(s, n, &bad)) {
        if (w->err == LCTW_OK)
            w->err =
                LCTW_FAIL(LCTW_EINVAL, "JSON writer: string \"%.*s\" is not valid UTF-8 (byte %zu)",
                          (int)(bad > 100 ? 100 : bad), s, bad);
        return;
    }
    w_put(w, "\"", 1);
    size_t run = 0; /* bytes copied verbatim in one go */
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        const char *esc = NULL;
        char u[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c < 0x20) {
                snprintf(u, sizeof u, "\\u%04x", c);
                esc = u;
            }
        }
        if (!esc) continue;
        w_put(w, s + run, k - run);
        w_puts(w, esc);
        run = k + 1;
    }
    w_put(w, s + run, n - run);
    w_put(w, "\"", 1);
}

void lctw_json_writer_keyn(lctw_json_writer *w, const char *key, size_t n) {
    if (w->err) return;
    if (w->depth == 0 || !w->is_object[w->depth - 1] || w->after_key) {
        w_fail(w, LCTW_EINVAL, "a key outside an object (or two keys in a row)");
        return;
    }
    if (w->nonempty[w->depth - 1]) w_put(w, ",", 1);
    w->nonempty[w->depth - 1] = 1;
    w_newline(w);
    w_quoted(w, key, n);
    w_puts(w, w->indent ? ": " : ":");
    w->after_key = 1;
}

void lctw_json_writer_key(lctw_json_writer *w, const char *key) {
    lctw_json_writer_keyn(w, key, key ? strlen(key) : 0);
}

void lctw_json_writer_stringn(lctw_json_writer *w, const char *s, size_t n) {
    if (!w_before_value(w)) return;
    w_quoted(w, s, n);
    w_after_value(w);
}

void lctw_json_writer_string(lctw_json_writer *w, const char *s) {
    lctw_json_writer_stringn(w, s, s ? strlen(s) : 0);
}

void lctw_json_writer_int(lctw_json_writer *w, int64_t v) {
    if (!w_before_value(w)) return;
    char b[32];
    snprintf(b, sizeof b, "%lld", (long long)v);
    w_puts(w, b);
    w_after_value(w);
}

void lctw_json_writer_number(lctw_json_writer *w, double v) {
    if (w->err) return;
    if (!isfinite(v)) {
        w_fail(w, LCTW_EINVAL, "NaN and infinities cannot be written as JSON numbers");
        return;
    }
    if (!w_before_value(w)) return;
    /* shortest of %.15g..%.17g that reads back exactly, formatted in the "C" locale */
    char b[40];
    locale_t loc = get_c_locale(), old = loc ? uselocale(loc) : (locale_t)0;
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(b, sizeof b, "%.*g", prec, v);
        if (strtod_c(b, NULL) == v) break;
    }
    if (loc) uselocale(old);
    w_puts(w, b);
    w_after_value(w);
}

void lctw_json_writer_bool(lctw_json_writer *w, int v) {
    if (!w_before_value(w)) return;
    w_puts(w, v ? "true" : "false");
    w_after_value(w);
}

void lctw_json_writer_null(lctw_json_writer *w) {
    if (!w_before_value(w)) return;
    w_puts(w, "null");
    w_after_value(w);
}

void lctw_json_writer_value(lctw_json_writer *w, const lctw_json *v) {
    if (w->err) return;
    if (!v) {
        w_fail(w, LCTW_EINVAL, "NULL value");
        return;
    }
    switch (v->type) {
    case LCTW_JSON_NULL: lctw_json_writer_null(w); break;
    case LCTW_JSON_BOOL: lctw_json_writer_bool(w, v->boolean); break;
    case LCTW_JSON_NUMBER:
        if (v->is_int && !(v->i == 0 && signbit(v->num))) /* "-0" keeps its sign */
            lctw_json_writer_int(w, v->i);
        else
            lctw_json_writer_number(w, v->num);
        break;
    case LCTW_JSON_STRING: lctw_json_writer_stringn(w, v->str, v->len); break;
    case LCTW_JSON_ARRAY:
    case LCTW_JSON_OBJECT: {
        int obj = v->type == LCTW_JSON_OBJECT;
        w_begin(w, obj);
        for (size_t k = 0; k < v->len && !w->err; k++) {
            if (obj) lctw_json_writer_keyn(w, v->items[k]->key, v->items[k]->key_len);
            lctw_json_writer_value(w, v->items[k]);
        }
        w_end(w, obj);
        break;
    }
    }
}

void lctw_json_writer_release(lctw_json_writer *w) {
    free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
}

lctw_status lctw_json_writer_finish(lctw_json_writer *w, char **out, size_t *len) {
    *out = NULL;
    if (len) *len = 0;
    if (w->err == LCTW_OK && !w->done)
        w_fail(w, LCTW_EINVAL, "document incomplete (an object or array is still open)");
    lctw_status s = w->err;
    if (s != LCTW_OK) {
        lctw_json_writer_release(w);
        return s;
    }
    *out = w->buf;
    if (len) *len = w->len;
    w->buf = NULL;
    w->len = w->cap = 0;
    return LCTW_OK;
}
