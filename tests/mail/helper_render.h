/*
 * helper_render.h: deterministic JSON rendering of a parsed message, for the conformance
 * corpus (conformance/mail/messages) and the unit tests.
 */
#ifndef STAUNCH_TESTS_MAIL_HELPER_RENDER_H
#define STAUNCH_TESTS_MAIL_HELPER_RENDER_H

#include "mail/mail.h"

/* Append the JSON of m (structure, offsets, MIME fields, decoded headers, text) to out. */
void mail_test_render(struct core_arena *a, const struct mail_message *m, struct core_buf *out);

/* Read a whole file into a malloc'ed buffer (NUL-terminated); NULL on failure. */
char *mail_test_read_file(const char *path, size_t *len_out);

#endif
