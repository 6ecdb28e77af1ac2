/*
 * server_queue_cli.c: `staunch queue list|show ID|remove ID` (docs/smtp.md "Queue"). With a
 * server running, the command goes through the control socket ("queue" control command,
 * answered on the server's own stores); otherwise the CLI opens the stores of the
 * configuration itself. Output is the same either way.
 */
#include "server/server_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core_arena.h"
#include "queue/queue.h"
#include "store/store.h"

static void fmt_time(struct core_buf *out, uint64_t ms)
{
	time_t t = (time_t)(ms / 1000u);
	struct tm tm;
	char buf[32];
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	core_buf_append_str(out, buf);
}

static const char *status_name(enum queue_rcpt_status s)
{
	switch (s) {
	case QUEUE_RCPT_DELIVERED:
		return "delivered";
	case QUEUE_RCPT_FAILED:
		return "failed";
	default:
		return "pending";
	}
}

static int list_line(void *arg, const struct queue_entry *e)
{
	struct core_buf *out = arg;
	core_buf_printf(out, "%" PRIu64 " ", e->id);
	fmt_time(out, e->due_ms);
	core_buf_printf(out, " %" PRIu64 " <%s>", e->size, e->sender);
	for (size_t i = 0; i < e->nrcpts; i++)
		core_buf_printf(out, "%s<%s>", i == 0 ? " -> " : ",", e->rcpts[i].addr);
	core_buf_putc(out, '\n');
	return 0;
}

static void show_entry(const struct queue_entry *e, struct core_buf *out)
{
	char blob[STORE_BLOB_ID_TEXT + 1];
	store_blob_id_format(&e->blob, blob);
	core_buf_printf(out, "id: %" PRIu64 "\ncreated: ", e->id);
	fmt_time(out, e->created_ms);
	core_buf_append_str(out, "\ndue: ");
	fmt_time(out, e->due_ms);
	core_buf_printf(out, "\nsender: <%s>\nauth: %s\nsize: %" PRIu64 "\nblob: %s\n", e->sender,
			e->auth_user[0] ? e->auth_user : "-", e->size, blob);
	if (e->lease_owner[0] != '\0') {
		core_buf_printf(out, "lease: %s until ", e->lease_owner);
		fmt_time(out, e->lease_until_ms);
		core_buf_putc(out, '\n');
	}
	static const char *const bodies[] = {"7BIT", "8BITMIME", "BINARYMIME"};
	static const char *const rets[] = {"-", "FULL", "HDRS"};
	core_buf_printf(out, "body: %s\nsmtputf8: %s\nrequiretls: %s\n",
			bodies[e->body >= 0 && e->body < 3 ? e->body : 0],
			e->smtputf8 ? "yes" : "no", e->requiretls ? "yes" : "no");
	core_buf_printf(out, "dsn-ret: %s\ndsn-envid: %s\n",
			rets[e->ret >= 0 && e->ret < 3 ? e->ret : 0], e->envid[0] ? e->envid : "-");
	if (e->has_priority)
		core_buf_printf(out, "mt-priority: %d\n", e->priority);
	if (e->has_by)
		core_buf_printf(out, "deliver-by: %" PRId64 ";%c%s\n", e->by_time, e->by_mode,
				e->by_trace ? "T" : "");
	if (e->hold_until > 0) {
		core_buf_append_str(out, "hold-until: ");
		fmt_time(out, e->hold_until * 1000u);
		core_buf_putc(out, '\n');
	}
	for (size_t i = 0; i < e->nrcpts; i++) {
		const struct queue_rcpt *r = &e->rcpts[i];
		core_buf_printf(out, "rcpt: <%s> %s attempts=%u", r->addr, status_name(r->status),
				r->attempts);
		if (r->notify != 0)
			core_buf_printf(out, " notify=%s%s%s%s", (r->notify & 0x1u) ? "NEVER" : "",
					(r->notify & 0x2u) ? "SUCCESS," : "",
					(r->notify & 0x4u) ? "FAILURE," : "",
					(r->notify & 0x8u) ? "DELAY" : "");
		if (r->orcpt[0] != '\0')
			core_buf_printf(out, " orcpt=%s;%s", r->orcpt_type, r->orcpt);
		if (r->last_reply[0] != '\0')
			core_buf_printf(out, " last=\"%s\"", r->last_reply);
		core_buf_putc(out, '\n');
	}
}

static int parse_id(const char *s, uint64_t *out, struct core_error *err)
{
	char *end = NULL;
	if (s == NULL || *s < '0' || *s > '9')
		return core_error_set(err, CORE_ESYNTAX, NULL, "a queue id is a number");
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s || (*end != '\0' && *end != ' ' && *end != '\n'))
		return core_error_set(err, CORE_ESYNTAX, NULL, "a queue id is a number");
	*out = v;
	return 0;
}

/* Run "list", "show ID" or "remove ID" on q; the text goes to out. */
static int queue_cmd_run(struct queue *q, const char *verb, const char *arg, struct core_buf *out,
			 struct core_error *err)
{
	if (strcmp(verb, "list") == 0 && arg == NULL) {
		int r = queue_list(q, list_line, out, err);
		return r;
	}
	uint64_t id = 0;
	if ((strcmp(verb, "show") == 0 || strcmp(verb, "remove") == 0) && arg != NULL) {
		int r = parse_id(arg, &id, err);
		if (r < 0)
			return r;
		if (verb[0] == 'r') {
			r = queue_remove(q, id, err);
			if (r == 0)
				core_buf_printf(out, "queue entry %" PRIu64 " removed\n", id);
			return r;
		}
		struct core_arena *a = core_arena_new(0);
		struct queue_entry e;
		r = queue_get(q, id, a, &e, err);
		if (r == 0)
			show_entry(&e, out);
		core_arena_free(&a);
		return r;
	}
	return core_error_set(err, CORE_ESYNTAX, NULL, "usage: queue list | show ID | remove ID");
}

/* The "queue" control command: "queue VERB [ID]", text answer percent-encoded. */
static int ctl_queue(struct server *srv, const char *args, struct core_buf *out,
		     struct core_error *err)
{
	(void)srv;
	struct queue *q = server_smtp_queue();
	if (q == NULL)
		return core_error_set(err, CORE_ETEMP, NULL, "the queue is not open yet");
	char verb[16] = "";
	size_t vlen = strcspn(args, " \t\r\n");
	if (vlen == 0 || vlen >= sizeof(verb))
		return core_error_set(err, CORE_ESYNTAX, NULL,
				      "usage: queue list | show ID | remove ID");
	memcpy(verb, args, vlen);
	const char *arg = args + vlen;
	while (*arg == ' ' || *arg == '\t')
		arg++;
	struct core_buf text = CORE_BUF_INIT;
	int r = queue_cmd_run(q, verb, *arg != '\0' ? arg : NULL, &text, err);
	if (r >= 0)
		server_ctl_encode(out, text.p != NULL ? text.p : "", text.len);
	core_buf_fini(&text);
	return r < 0 ? r : 0;
}

static const struct server_ctl_cmd queue_ctl_cmds[] = {
	{"queue", "queue list | show ID | remove ID: the outbound queue", ctl_queue},
};

void server_queue_ctl_register(void)
{
	server_control_register(queue_ctl_cmds, CORE_NELEM(queue_ctl_cmds));
}

int server_queue_cli(const char *conf_path, int argc, char **argv)
{
	if (argc < 2 || argc > 3 || (argc == 2 && strcmp(argv[1], "list") != 0) ||
	    (argc == 3 && strcmp(argv[1], "show") != 0 && strcmp(argv[1], "remove") != 0)) {
		fprintf(stderr, "usage: staunch queue list | show ID | remove ID\n");
		return 2;
	}
	struct core_conf *c = NULL;
	if (server_conf_load_checked(conf_path, &c) != 0)
		return 1;
	struct core_error err;
	core_error_clear(&err);
	struct core_buf out = CORE_BUF_INIT, reply = CORE_BUF_INIT;
	int rc = 1;
	/* A running server answers on its own stores (RocksDB admits one process). */
	char *path = core_xasprintf("%s/control.sock",
				    core_conf_get_str(c, "server.run-dir", "/run/staunch"));
	char *line = core_xasprintf("queue %s%s%s", argv[1], argc == 3 ? " " : "",
				    argc == 3 ? argv[2] : "");
	if (server_control_request(path, line, &reply, &err) == 0) {
		const char *r = core_buf_cstr(&reply);
		size_t len = strcspn(r, "\n");
		if (strncmp(r, "ok", 2) == 0 && (r[2] == ' ' || len == 2)) {
			if (len > 3 && server_ctl_decode(r + 3, len - 3, &out) < 0) {
				fprintf(stderr,
					"staunch queue: unexpected answer from the server\n");
				goto out;
			}
			fwrite(out.p != NULL ? out.p : "", 1, out.len, stdout);
			rc = 0;
		} else {
			fprintf(stderr, "staunch queue: %.*s\n", (int)(len > 6 ? len - 6 : len),
				len > 6 ? r + 6 : r);
		}
		goto out;
	}
	/* No server: open the stores here. */
	core_error_clear(&err);
	struct store_set st = {0};
	struct queue *q = NULL;
	if (store_set_open(c, &st, &err) < 0 || queue_open(st.data, st.blob, &q, &err) < 0) {
		fprintf(stderr, "staunch queue: %s\n", err.msg);
		store_set_close(&st);
		goto out;
	}
	int r = queue_cmd_run(q, argv[1], argc == 3 ? argv[2] : NULL, &out, &err);
	queue_free(&q);
	store_set_close(&st);
	if (r < 0) {
		fprintf(stderr, "staunch queue: %s\n", err.msg);
		rc = r == CORE_ESYNTAX ? 2 : 1;
		goto out;
	}
	fwrite(out.p != NULL ? out.p : "", 1, out.len, stdout);
	rc = 0;
out:
	free(path);
	free(line);
	core_buf_fini(&out);
	core_buf_fini(&reply);
	core_conf_free(&c);
	return rc;
}
