/*
 * test_smtp_live.c: replays the conformance transcripts over TCP. By default against an
 * in-process network runtime serving smtp_net_service with services that accept everything;
 * with STAUNCH_SMTP_LIVE=host:port against a running server instead. Sessions that need the
 * fake services of the unit runner (@set, TLS, M=/M~/E~ checks) are skipped here; the others
 * must give the same reply codes over the wire as through smtp_session_feed().
 */
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/core.h"
#include "net/net.h"
#include "smtp/smtp.h"

struct live_srv {
	struct net_runtime *rt;
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool ready;
	uint16_t port;
	struct smtp_listener l;
	struct smtp_services svc;
};

static void live_ready(void *arg)
{
	struct live_srv *s = arg;
	pthread_mutex_lock(&s->mu);
	s->ready = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void *live_main(void *arg)
{
	net_runtime_run(((struct live_srv *)arg)->rt);
	return NULL;
}

static void live_start(struct live_srv *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->l.cfg.hostname = "mx.test";
	s->l.svc = &s->svc;
	struct net_runtime_cfg rc = {
		.event_threads = 1, .worker_threads = 1, .shutdown_grace_ms = 1000};
	struct core_error err;
	core_error_clear(&err);
	s->rt = net_runtime_new(&rc, &err);
	ck_assert_msg(s->rt != NULL, "%s", err.msg);
	static const char *const bind[] = {"127.0.0.1:0"};
	struct net_listener_cfg lc = {.name = "smtp", .bind = bind, .nbind = 1};
	ck_assert_int_eq(net_runtime_listen(s->rt, &lc, &smtp_net_service, &s->l, &err), 0);
	s->port = net_runtime_listener_port(s->rt, "smtp", 0);
	net_runtime_on_ready(s->rt, live_ready, s);
	ck_assert_int_eq(pthread_create(&s->tid, NULL, live_main, s), 0);
	pthread_mutex_lock(&s->mu);
	while (!s->ready)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

static void live_stop(struct live_srv *s)
{
	net_runtime_shutdown(s->rt);
	pthread_join(s->tid, NULL);
	net_runtime_free(&s->rt);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
}

static int dial(const char *host, const char *port)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	int fd = socket(res->ai_family, res->ai_socktype, 0);
	if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static void unescape(const char *s, struct core_buf *out)
{
	for (; *s; s++) {
		if (*s != '\\' || s[1] == '\0') {
			core_buf_putc(out, *s);
			continue;
		}
		s++;
		if (*s == 'r')
			core_buf_putc(out, '\r');
		else if (*s == 'n')
			core_buf_putc(out, '\n');
		else if (*s == 't')
			core_buf_putc(out, '\t');
		else if (*s == '0')
			core_buf_putc(out, '\0');
		else if (*s == 'x' && s[1] && s[2]) {
			char h[3] = {s[1], s[2], 0};
			core_buf_putc(out, (char)strtoul(h, NULL, 16));
			s += 2;
		} else
			core_buf_putc(out, *s);
	}
}

/* Read replies until `want` final lines (codes) arrived; false on timeout or EOF. */
static bool read_replies(int fd, int want, struct core_buf *codes, struct core_buf *raw, bool *eof)
{
	int seen = 0;
	size_t scan = 0;
	core_buf_reset(codes);
	core_buf_reset(raw);
	while (seen < want) {
		for (;;) {
			const char *nl = raw->len > scan
						 ? memchr(raw->p + scan, '\n', raw->len - scan)
						 : NULL;
			if (nl == NULL)
				break;
			size_t end = (size_t)(nl - raw->p);
			if (end - scan >= 4 && raw->p[scan + 3] == ' ') {
				if (codes->len)
					core_buf_putc(codes, ' ');
				core_buf_append(codes, raw->p + scan, 3);
				seen++;
			}
			scan = end + 1;
		}
		if (seen >= want)
			break;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, 3000) <= 0)
			return false;
		char buf[8192];
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r <= 0) {
			*eof = true;
			return false;
		}
		core_buf_append(raw, buf, (size_t)r);
	}
	return true;
}

static bool closed_by_peer(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	if (poll(&pfd, 1, 3000) <= 0)
		return false;
	char c;
	return read(fd, &c, 1) == 0;
}

/* True when the session only uses what a live server offers. */
static bool replayable(const char *text)
{
	static const char *const fake_only[] = {
		"\n@set", "\nTLS", "\nSTARTTLS_CALLS", "\nM=", "\nM~", "\nM!", "\nE~"};
	struct core_buf b = CORE_BUF_INIT;
	core_buf_putc(&b, '\n');
	core_buf_append_str(&b, text);
	bool ok = true;
	for (size_t i = 0; i < sizeof(fake_only) / sizeof(fake_only[0]); i++)
		if (strstr(core_buf_cstr(&b), fake_only[i]))
			ok = false;
	core_buf_fini(&b);
	return ok;
}

/* Replay one session; 0 or -1 with diag. */
static int replay(const char *host, const char *port, const char *text, struct core_buf *diag)
{
	int fd = dial(host, port);
	if (fd < 0) {
		core_buf_printf(diag, "cannot connect to %s:%s\n", host, port);
		return -1;
	}
	struct core_buf pending = CORE_BUF_INIT, codes = CORE_BUF_INIT, raw = CORE_BUF_INIT;
	int rc = 0, lineno = 0;
	bool eof = false;
	const char *p = text;
	while (*p && rc == 0) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char line[8192];
		if (n >= sizeof(line))
			n = sizeof(line) - 1;
		memcpy(line, p, n);
		line[n] = '\0';
		p = nl ? nl + 1 : p + n;
		lineno++;
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (!strncmp(line, "C: ", 3) || !strcmp(line, "C:")) {
			core_buf_append_str(&pending, line[2] ? line + 3 : "");
			core_buf_append(&pending, "\r\n", 2);
		} else if (!strncmp(line, "R: ", 3)) {
			unescape(line + 3, &pending);
		} else if (!strncmp(line, "S: ", 3)) {
			if (pending.len > 0 &&
			    write(fd, pending.p, pending.len) != (ssize_t)pending.len && !eof) {
				core_buf_printf(diag, "line %d: write failed\n", lineno);
				rc = -1;
				break;
			}
			core_buf_reset(&pending);
			const char *want = line + 3;
			int nwant = 1;
			for (const char *q = want; *q; q++)
				nwant += *q == ' ';
			bool got = read_replies(fd, nwant, &codes, &raw, &eof);
			if (!got || strcmp(core_buf_cstr(&codes), want) != 0) {
				core_buf_printf(diag, "line %d: replies '%s', expected '%s'\n%s",
						lineno, core_buf_cstr(&codes), want,
						core_buf_cstr(&raw));
				rc = -1;
			}
		} else if (!strncmp(line, "S~ ", 3) || !strncmp(line, "S! ", 3)) {
			bool has = strstr(core_buf_cstr(&raw), line + 3) != NULL;
			if (has != (line[1] == '~')) {
				core_buf_printf(diag, "line %d: check '%s' failed\n", lineno, line);
				rc = -1;
			}
		} else if (!strcmp(line, "CLOSED")) {
			if (!eof && !closed_by_peer(fd)) {
				core_buf_printf(diag, "line %d: connection still open\n", lineno);
				rc = -1;
			}
		}
	}
	close(fd);
	core_buf_fini(&pending);
	core_buf_fini(&codes);
	core_buf_fini(&raw);
	return rc;
}

/*
 * Against a running server (STAUNCH_SMTP_LIVE), conformance/smtp/live-policy.list lists the
 * sessions whose expectations differ there by the server's policy ("FILE SESSION reason"
 * per line): their differences are printed, not failed.
 */
static bool live_policy(const char *file, int session, struct core_buf *why)
{
	FILE *fp = fopen(STAUNCH_SOURCE_DIR "/conformance/smtp/live-policy.list", "r");
	if (fp == NULL)
		return false;
	char line[512];
	bool hit = false;
	while (!hit && fgets(line, sizeof(line), fp) != NULL) {
		char name[256];
		int sess = 0, used = 0;
		if (line[0] == '#' || sscanf(line, "%255s %d %n", name, &sess, &used) < 2)
			continue;
		if (strcmp(name, file) == 0 && sess == session) {
			hit = true;
			core_buf_append(why, line + used, strcspn(line + used, "\r\n"));
		}
	}
	fclose(fp);
	return hit;
}

START_TEST(test_smtp_live_replay)
{
	const char *live = getenv("STAUNCH_SMTP_LIVE");
	char host[256] = "127.0.0.1", port[16];
	struct live_srv srv;
	if (live != NULL) {
		const char *colon = strrchr(live, ':');
		ck_assert_ptr_nonnull(colon);
		snprintf(host, sizeof(host), "%.*s", (int)(colon - live), live);
		snprintf(port, sizeof(port), "%s", colon + 1);
	} else {
		live_start(&srv);
		snprintf(port, sizeof(port), "%u", (unsigned)srv.port);
	}
	const char *dir = STAUNCH_SOURCE_DIR "/conformance/smtp";
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	struct dirent *e;
	int played = 0;
	struct core_buf report = CORE_BUF_INIT;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (n < 5 || strcmp(e->d_name + n - 4, ".txt") != 0)
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		FILE *fp = fopen(path, "rb");
		ck_assert_ptr_nonnull(fp);
		struct core_buf b = CORE_BUF_INIT;
		char tmp[4096];
		size_t k;
		while ((k = fread(tmp, 1, sizeof(tmp), fp)) > 0)
			core_buf_append(&b, tmp, k);
		fclose(fp);
		char *text = core_buf_detach(&b, NULL);
		int session = 0;
		for (char *p = text; p != NULL;) {
			char *sep = strstr(p, "\n---\n");
			if (sep != NULL)
				sep[1] = '\0';
			session++;
			if (replayable(p)) {
				struct core_buf diag = CORE_BUF_INIT;
				struct core_buf why = CORE_BUF_INIT;
				if (replay(host, port, p, &diag) < 0) {
					if (live != NULL && live_policy(e->d_name, session, &why))
						printf("policy difference: %s session %d (%s): %s",
						       e->d_name, session, core_buf_cstr(&why),
						       core_buf_cstr(&diag));
					else
						core_buf_printf(&report, "%s session %d: %s",
								e->d_name, session,
								core_buf_cstr(&diag));
				}
				core_buf_fini(&why);
				core_buf_fini(&diag);
				played++;
			}
			p = sep ? sep + 5 : NULL;
		}
		free(text);
	}
	closedir(d);
	if (live == NULL)
		live_stop(&srv);
	/* Every difference is listed (printed), then the test fails on any. */
	size_t nreport = report.len;
	if (nreport > 0)
		printf("differences:\n%s", core_buf_cstr(&report));
	core_buf_fini(&report);
	ck_assert_msg(nreport == 0, "replies differ from the transcripts (listed above)");
	ck_assert_int_ge(played, 10);
}
END_TEST

static Suite *live_suite(void)
{
	Suite *s = suite_create("smtp_live");
	TCase *tc = tcase_create("live");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_smtp_live_replay);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(live_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
