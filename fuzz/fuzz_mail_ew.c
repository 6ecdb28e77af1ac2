/*
 * fuzz_mail_ew.c: libFuzzer target for RFC 2047 decoding (mail_ew_decode, mail_hdr_text),
 * MIME parameter values (mail_mime_value_parse) and charset conversion
 * (mail_charset_to_utf8). The first input byte picks a charset for the conversion check.
 * Checks: every output is valid UTF-8; the number of decoded words is never negative; text
 * without "=?" and with only printable ASCII decodes to itself.
 */
#include "core/core.h"
#include "core/core_utf8.h"
#include "fuzz.h"
#include "mail/mail.h"

static const char *const charsets[] = {
	"utf-8",     "us-ascii",     "iso-8859-1", "windows-1252",    "iso-2022-jp", "shift_jis",
	"euc-kr",    "gb2312",       "big5",       "koi8-r",          "utf-16",      "utf-7",
	"x-unknown", "iso-8859-8-i", "",           "no-such-charset",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct core_buf out = CORE_BUF_INIT;
	int n = mail_ew_decode(p, size, size > 0 ? (data[0] & 1) : 0, &out);
	FUZZ_CHECK(n >= 0);
	FUZZ_CHECK(core_utf8_is_valid(out.p, out.len));
	if (n == 0 && core_utf8_is_ascii_print(p, size) && memmem(p, size, "=?", 2) == NULL)
		FUZZ_CHECK(out.len == size && memcmp(out.p, p, size) == 0);
	core_buf_fini(&out);

	struct core_arena *a = core_arena_new(0);
	struct core_str t = mail_hdr_text(a, core_str_make(p, size));
	FUZZ_CHECK(core_utf8_is_valid(t.p, t.len));
	struct mail_mime_value v;
	mail_mime_value_parse(a, core_str_make(p, size), true, &v);
	for (size_t i = 0; i < v.nparams; i++) {
		FUZZ_CHECK(core_utf8_is_valid(v.params[i].value.p, v.params[i].value.len));
		FUZZ_CHECK(v.params[i].name.len > 0);
	}
	core_arena_free(&a);

	if (size > 0) {
		const char *cs = charsets[data[0] % CORE_NELEM(charsets)];
		struct core_buf c = CORE_BUF_INIT;
		int r = mail_charset_to_utf8(cs, p + 1, size - 1, &c);
		FUZZ_CHECK(r >= 0);
		FUZZ_CHECK(core_utf8_is_valid(c.p != NULL ? c.p : "", c.len));
		core_buf_fini(&c);
	}
	return 0;
}
