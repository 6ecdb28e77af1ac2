/*
 * fuzz_core_conf.c: libFuzzer target for the configuration parser (core_conf_parse) and the
 * validation against a small registry (core_conf_validate). Checks the contract on every
 * input: parsing fails exactly when it reports diagnostics, every diagnostic names the file
 * and has a message, and the getters work on whatever parsed.
 */
#include <stdbool.h>

#include "core/core.h"
#include "fuzz.h"

static const struct core_conf_key fuzz_keys[] = {
	{"server.hostname", CORE_CONF_STRING, "localhost", NULL, 0, 0, 0, "Host name."},
	{"server.max-connections", CORE_CONF_INT, "1000", NULL, 1, 100000, 0, "Connections."},
	{"server.debug", CORE_CONF_BOOL, "false", NULL, 0, 0, 0, "Debug."},
	{"server.timeout", CORE_CONF_DURATION, "5m", NULL, 1000, 86400000, 0, "Timeout."},
	{"server.max-message", CORE_CONF_SIZE, "50M", NULL, 1024, 1073741824, 0, "Size."},
	{"server.data-dir", CORE_CONF_PATH, "/var/lib/staunch", NULL, 0, 0, 0, "Data."},
	{"server.password", CORE_CONF_STRING, NULL, NULL, 0, 0, CORE_CONF_SECRET, "Secret."},
	{"listener.*.bind", CORE_CONF_LIST, "[\"[::]:25\"]", NULL, 0, 0, 0, "Bind."},
	{"listener.*.protocol", CORE_CONF_ENUM, NULL, "smtp|lmtp|imap|pop3", 0, 0,
	 CORE_CONF_REQUIRED, "Protocol."},
	{"listener.*.tls", CORE_CONF_ENUM, "none", "none|starttls|implicit", 0, 0, 0, "TLS."},
	{"listener.*.port", CORE_CONF_INT, NULL, NULL, 1, 65535, 0, "Port."},
};

static void fuzz_check_diags(const struct core_conf_diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		FUZZ_CHECK(d->v[i].file != NULL && strcmp(d->v[i].file, "fuzz.conf") == 0);
		FUZZ_CHECK(d->v[i].msg != NULL && d->v[i].msg[0] != '\0');
	}
	FUZZ_CHECK(d->n <= CORE_CONF_MAX_DIAGS + 1);
	struct core_buf b = CORE_BUF_INIT;
	core_conf_diags_format(d, &b);
	size_t lines = 0;
	for (size_t i = 0; i < b.len; i++)
		lines += b.p[i] == '\n';
	FUZZ_CHECK(lines >= d->n);
	core_buf_fini(&b);
}

/* Walk two levels of children and read every key with every getter. */
static void fuzz_walk(const struct core_conf *c)
{
	const char *const *top;
	size_t ntop = core_conf_children(c, "", &top);
	for (size_t i = 0; i < ntop && i < 16; i++) {
		FUZZ_CHECK(top[i] != NULL && top[i][0] != '\0');
		const char *const *sub;
		size_t nsub = core_conf_children(c, top[i], &sub);
		for (size_t j = 0; j < nsub && j < 16; j++) {
			char *key = core_xasprintf("%s.%s", top[i], sub[j]);
			const char *const *items;
			size_t n = core_conf_get_list(c, key, &items);
			for (size_t k = 0; k < n; k++)
				FUZZ_CHECK(items[k] != NULL);
			(void)core_conf_get_str(c, key, NULL);
			(void)core_conf_get_int(c, key, 0);
			(void)core_conf_get_bool(c, key, false);
			(void)core_conf_get_size(c, key, 0);
			(void)core_conf_get_duration_ms(c, key, 0);
			unsigned line = 0;
			if (core_conf_has(c, key))
				FUZZ_CHECK(core_conf_origin(c, key, &line) != NULL && line > 0);
			free(key);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool registered;
	if (!registered) {
		core_conf_register("Fuzz", fuzz_keys, CORE_NELEM(fuzz_keys));
		registered = true;
	}
	struct core_conf_diags d;
	struct core_conf *c = NULL;
	core_conf_diags_init(&d);
	int rc = core_conf_parse("fuzz.conf", (const char *)data, size, &c, &d);
	FUZZ_CHECK(rc == 0 || rc == CORE_ESYNTAX);
	FUZZ_CHECK((rc == 0) == (c != NULL));
	FUZZ_CHECK((rc == 0) == (d.n == 0));
	fuzz_check_diags(&d);
	if (rc == 0) {
		int vrc = core_conf_validate(c, &d);
		FUZZ_CHECK(vrc == 0 || vrc == CORE_ESYNTAX);
		FUZZ_CHECK((vrc == 0) == (d.n == 0));
		fuzz_check_diags(&d);
		fuzz_walk(c);
		int src = core_conf_set(c, "listener.fuzz.tls", "\"starttls\"");
		FUZZ_CHECK(src == 0 || src == CORE_ESYNTAX);
		if (src == 0)
			FUZZ_CHECK(strcmp(core_conf_get_str(c, "listener.fuzz.tls", ""),
					  "starttls") == 0);
		fuzz_walk(c);
	}
	core_conf_free(&c);
	core_conf_diags_fini(&d);

	/* The scalar helpers on the input as one C string. */
	if (size <= 64) {
		char *s = fuzz_strndup(data, size);
		uint64_t u;
		bool b;
		(void)core_conf_parse_duration_ms(s, &u);
		(void)core_conf_parse_size(s, &u);
		(void)core_conf_parse_bool(s, &b);
		free(s);
	}
	return 0;
}
