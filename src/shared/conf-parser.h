/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "macro.h"

/* One line of an INI file as the tokenizer (inih) saw it. A section header without keys is
 * kept as an entry with key == NULL, so that "[Nested]" alone still declares the section. */
typedef struct RawEntry {
        char *section; /* full header text, e.g. "Bridge br0" */
        char *key;     /* NULL for a section header */
        char *value;
        unsigned line;
} RawEntry;

typedef struct RawFile {
        char *path;
        RawEntry *entries;
        size_t n_entries;
        unsigned error_line; /* first syntax error, 0 if none */
        char *error;
} RawFile;

void raw_file_free(RawFile *f);
DEFINE_TRIVIAL_CLEANUP_FUNC(RawFile *, raw_file_free);

/* Tokenize a file. Syntax errors do not fail the call: they are recorded in error_line/error
 * so that validation can report every problem at once. Returns negative errno only if the file
 * cannot be read. */
int raw_file_load(const char *path, RawFile **ret);
