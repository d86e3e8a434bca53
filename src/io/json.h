/* json.h — a small, strict JSON (RFC 8259) reader and writer for safetensors headers, configs
 * and metadata.
 *
 * Reader: parses a buffer of known length into a read-only tree. Strict: no comments, no
 * trailing commas, no leading '+' or zeros, no NaN/Infinity, no raw control characters in
 * strings, UTF-8 validated (also inside \uXXXX escapes: lone surrogates are errors), duplicate
 * object keys are errors, only whitespace may follow the value. It never reads outside
 * [text, text+len), recursion is bounded by max_depth and the tree's memory by max_memory, so
 * hostile input (a safetensors header from the internet) is safe to parse. Errors are
 * LCTW_EFORMAT "JSON syntax error at byte N: ..." (N 0-based from the start of the buffer).
 *
 * Writer: appends to a growing buffer, inserts commas/colons itself, escapes strings, writes
 * numbers in the shortest form that reads back exactly ("C" locale regardless of setlocale),
 * and keeps the first error (invalid UTF-8, NaN, a key outside an object, ...) until finish.
 */
#ifndef LCTW_JSON_H
#define LCTW_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define LCTW_JSON_DEFAULT_DEPTH 64
#define LCTW_JSON_DEFAULT_MEMORY ((size_t)256 << 20)
#define LCTW_JSON_WRITER_MAX_DEPTH 128

typedef enum {
    LCTW_JSON_NULL = 0,
    LCTW_JSON_BOOL,
    LCTW_JSON_NUMBER,
    LCTW_JSON_STRING,
    LCTW_JSON_ARRAY,
    LCTW_JSON_OBJECT,
} lctw_json_type;

typedef struct lctw_json lctw_json;
struct lctw_json {
    lctw_json_type type;
    int boolean;        /* BOOL: 0 or 1 */
    int is_int;         /* NUMBER written without fraction/exponent that fits in int64 */
    int64_t i;          /* NUMBER: exact value when is_int */
    double num;         /* NUMBER: the value as a double (always set) */
    const char *str;    /* STRING: decoded UTF-8, NUL-terminated (may also contain NUL: see len) */
    size_t len;         /* STRING: bytes of str; ARRAY/OBJECT: number of items */
    lctw_json **items;  /* ARRAY/OBJECT: items in document order (NULL when empty) */
    lctw_json **sorted; /* OBJECT: members sorted by key bytes, for lookup */
    const char *key;    /* when a member of an OBJECT: its decoded key (NUL-terminated) */
    size_t key_len;
    size_t offset;   /* byte offset of the value in the parsed buffer */
    lctw_json *next; /* next sibling in document order (used while parsing) */
};

typedef struct lctw_json_opts {
    int max_depth;     /* nesting of arrays/objects; 0 = LCTW_JSON_DEFAULT_DEPTH */
    size_t max_memory; /* bytes the tree may use; 0 = LCTW_JSON_DEFAULT_MEMORY */
} lctw_json_opts;

/* A parsed document: owns every node and string of its tree. */
typedef struct lctw_json_doc lctw_json_doc;

#ifdef __cplusplus
extern "C" {
#endif

/* Parses text[0..len) (not necessarily NUL-terminated). opts may be NULL. */
lctw_status lctw_json_parse(lctw_json_doc **out, const char *text, size_t len,
                            const lctw_json_opts *opts);
const lctw_json *lctw_json_root(const lctw_json_doc *doc);
/* Bytes of memory the tree uses (for tests of the memory bound). */
size_t lctw_json_doc_memory(const lctw_json_doc *doc);
void lctw_json_free(lctw_json_doc *doc);

/* Member `key` of an object (binary search), NULL if absent or v is not an object. */
const lctw_json *lctw_json_get(const lctw_json *v, const char *key);
const lctw_json *lctw_json_getn(const lctw_json *v, const char *key, size_t key_len);
/* "null", "boolean", "number", "string", "array", "object". */
const char *lctw_json_type_name(lctw_json_type t);
/* 1 when s[0..n) is valid UTF-8 (no overlongs, no surrogates, at most U+10FFFF); else 0 and
 * *bad (if not NULL) is the offset of the first invalid byte. */
int lctw_utf8_valid(const char *s, size_t n, size_t *bad);

/* ---- writer ---- */

typedef struct lctw_json_writer {
    char *buf; /* NUL-terminated output so far (NULL until something is written) */
    size_t len, cap;
    lctw_status err; /* first error, kept until finish */
    int indent;      /* spaces per level; 0 = compact (no whitespace at all) */
    int depth;
    int after_key; /* a key was written and its value is due */
    unsigned char is_object[LCTW_JSON_WRITER_MAX_DEPTH];
    unsigned char nonempty[LCTW_JSON_WRITER_MAX_DEPTH]; /* the container has an item already */
    int done;                                           /* the top-level value is complete */
} lctw_json_writer;

/* indent: 0 for compact output, else spaces per nesting level (newline-separated items). */
void lctw_json_writer_init(lctw_json_writer *w, int indent);
void lctw_json_writer_begin_object(lctw_json_writer *w);
void lctw_json_writer_end_object(lctw_json_writer *w);
void lctw_json_writer_begin_array(lctw_json_writer *w);
void lctw_json_writer_end_array(lctw_json_writer *w);
void lctw_json_writer_key(lctw_json_writer *w, const char *key);
void lctw_json_writer_keyn(lctw_json_writer *w, const char *key, size_t n);
void lctw_json_writer_string(lctw_json_writer *w, const char *s);
void lctw_json_writer_stringn(lctw_json_writer *w, const char *s, size_t n);
void lctw_json_writer_int(lctw_json_writer *w, int64_t v);
void lctw_json_writer_number(lctw_json_writer *w, double v); /* NaN/Inf are errors */
void lctw_json_writer_bool(lctw_json_writer *w, int v);
void lctw_json_writer_null(lctw_json_writer *w);
/* Writes a parsed value (recursively). */
void lctw_json_writer_value(lctw_json_writer *w, const lctw_json *v);
/* Checks the document is complete and hands over the NUL-terminated text (free() it) and its
 * length; or returns the first error. Either way the writer is released. */
lctw_status lctw_json_writer_finish(lctw_json_writer *w, char **out, size_t *len);
/* Frees the buffer without finishing (after an unrelated error). */
void lctw_json_writer_release(lctw_json_writer *w);

#ifdef __cplusplus
}
#endif

#endif
