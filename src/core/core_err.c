/* core_err.c: the error record of ARCHITECTURE.md §6. */
#include "core/core_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void core_error_clear(struct core_error *err)
{
	if (err == NULL)
		return;
	err->code = CORE_OK;
	err->rule = NULL;
	err->msg[0] = '\0';
}

int core_error_set(struct core_error *err, int code, const char *rule, const char *fmt, ...)
{
	if (err == NULL)
		return code;
	err->code = code;
	err->rule = rule;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	/* The message may end up in a protocol reply: keep it one printable line. */
	for (char *p = err->msg; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c == 0x7f)
			*p = ' ';
	}
	return code;
}

const char *core_err_name(int code)
{
	switch (code) {
	case CORE_OK:
		return "ok";
	case CORE_ESYNTAX:
		return "syntax";
	case CORE_ELIMIT:
		return "limit";
	case CORE_ENOTFOUND:
		return "notfound";
	case CORE_ECONFLICT:
		return "conflict";
	case CORE_ETEMP:
		return "temporary";
	case CORE_EPERM:
		return "permission";
	case CORE_EIO:
		return "io";
	case CORE_EINTERNAL:
		return "internal";
	default:
		return code > 0 ? "ok" : "unknown";
	}
}
