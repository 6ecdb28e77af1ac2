/*
 * SMTP AUTH over TLS with a real client (OpenSSL) against the staunch binary started by
 * ci/server.sh: SCRAM-SHA-256-PLUS with tls-exporter (RFC 9266, TLS 1.3 on 465) and with
 * tls-server-end-point (RFC 5929 §4.1, TLS 1.2 after STARTTLS on 587), each accepted with the
 * right binding and refused with a wrong one; EXTERNAL (RFC 4422 appendix A) with a client
 * certificate issued by tls.client-ca accepted, and a self-signed one or none refused.
 * The client computes every SCRAM value itself (RFC 5802 §3) from what it sees on the wire.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define USER "alice@example.org"
#define PASS "alice pw 1"

static char g_dir[128];
static int g_port_465, g_port_587;
static bool g_started;

/* --- setup: certificates, server, accounts ------------------------------------------------ */

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static int json_port(const char *json, const char *name)
{
	char key[64];
	snprintf(key, sizeof(key), "\"%s\":", name);
	const char *p = strstr(json, key);
	return p != NULL ? atoi(p + strlen(key)) : 0;
}

static void setup(void)
{
	snprintf(g_dir, sizeof(g_dir), "/tmp/staunch-sasltls.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(g_dir));
	/* The server drops privileges and must still reach its directories below this one. */
	ck_assert_int_eq(chmod(g_dir, 0755), 0);
	const char *d = g_dir;
	/* The all-in-one binary, else the SMTP package (both serve SMTP). */
	char bin[1024];
	snprintf(bin, sizeof(bin), "%s/staunch", STAUNCH_BINARY_DIR);
	if (access(bin, X_OK) != 0)
		snprintf(bin, sizeof(bin), "%s/staunch-smtp", STAUNCH_BINARY_DIR);
	ck_assert_msg(access(bin, X_OK) == 0,
		      "%s is not built (build the staunch or staunch-smtp target)", bin);
	setenv("STAUNCH_BIN", bin, 1);
	/* A CA, a certificate it issued for alice, one for an address no account owns, and a
	 * self-signed certificate that claims alice's address. */
	const char *q = "2>/dev/null";
	const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
	ck_assert_int_eq(run("cd %s && openssl req -x509 %s -keyout ca.key -out ca.pem -days 30 "
			     "-subj /CN=Test-CA %s",
			     d, ec, q),
			 0);
	const char *who[] = {"alice", "bob"};
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(
			run("cd %s && echo subjectAltName=email:%s@example.org > %s.ext && "
			    "openssl req %s -keyout %s.key -out %s.csr -subj /CN=%s %s && "
			    "openssl x509 -req -in %s.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
			    "-days 30 -extfile %s.ext -out %s.pem %s",
			    d, who[i], who[i], ec, who[i], who[i], who[i], q, who[i], who[i],
			    who[i], q),
			0);
	}
	ck_assert_int_eq(run("cd %s && openssl req -x509 %s -keyout rogue.key -out rogue.pem "
			     "-days 30 -subj /CN=alice -addext subjectAltName=email:" USER " %s",
			     d, ec, q),
			 0);

	char cmd[2048];
	snprintf(cmd, sizeof(cmd),
		 "%s/ci/server.sh start %s/srv --set 'tls.client-ca=\"%s/ca.pem\"' 2>&1",
		 STAUNCH_SOURCE_DIR, d, d);
	FILE *f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	char line[4096], last[4096] = "";
	while (fgets(line, sizeof(line), f) != NULL)
		snprintf(last, sizeof(last), "%s", line);
	int rc = pclose(f);
	ck_assert_msg(rc == 0, "server did not start: %s", last);
	g_started = true;
	g_port_465 = json_port(last, "submissions");
	g_port_587 = json_port(last, "submission");
	ck_assert_int_gt(g_port_465, 0);
	ck_assert_int_gt(g_port_587, 0);
	ck_assert_int_eq(run("%s -c %s/srv/staunch.conf domain add example.org --no-dkim "
			     ">/dev/null && %s -c %s/srv/staunch.conf account add " USER
			     " --password '" PASS "' >/dev/null",
			     bin, d, bin, d),
			 0);
}

static void teardown(void)
{
	if (g_started)
		run("%s/ci/server.sh stop %s/srv >/dev/null 2>&1", STAUNCH_SOURCE_DIR, g_dir);
	g_started = false;
	if (g_dir[0] != '\0' && getenv("STAUNCH_KEEP_TEST_DIR") == NULL)
		run("rm -rf %s", g_dir);
	g_dir[0] = '\0';
}

/* --- a small SMTP client ------------------------------------------------------------------ */

struct cli {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	char buf[16384];
	size_t len;
};

static void cli_connect(struct cli *c, int port)
{
	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(c->fd, 0);
	struct timeval tv = {.tv_sec = 20};
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
}

/* version: TLS1_2_VERSION or TLS1_3_VERSION; cert: basename of a key pair in g_dir or NULL. */
static void cli_tls(struct cli *c, int version, const char *cert)
{
	c->ctx = SSL_CTX_new(TLS_client_method());
	ck_assert_ptr_nonnull(c->ctx);
	SSL_CTX_set_min_proto_version(c->ctx, version);
	SSL_CTX_set_max_proto_version(c->ctx, version);
	if (cert != NULL) {
		char p[256];
		snprintf(p, sizeof(p), "%s/%s.pem", g_dir, cert);
		ck_assert_int_eq(SSL_CTX_use_certificate_file(c->ctx, p, SSL_FILETYPE_PEM), 1);
		snprintf(p, sizeof(p), "%s/%s.key", g_dir, cert);
		ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(c->ctx, p, SSL_FILETYPE_PEM), 1);
	}
	c->ssl = SSL_new(c->ctx);
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_tlsext_host_name(c->ssl, "localhost");
	ck_assert_int_eq(SSL_connect(c->ssl), 1);
}

static void cli_close(struct cli *c)
{
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	if (c->ctx != NULL)
		SSL_CTX_free(c->ctx);
	close(c->fd);
	memset(c, 0, sizeof(*c));
}

static void cli_send(struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cli_send(struct cli *c, const char *fmt, ...)
{
	char line[8192];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	ck_assert(n >= 0 && (size_t)n < sizeof(line) - 2);
	memcpy(line + n, "\r\n", 2);
	n += 2;
	int w = c->ssl != NULL ? SSL_write(c->ssl, line, n) : (int)send(c->fd, line, (size_t)n, 0);
	ck_assert_int_eq(w, n);
}

/* One reply: its code, and every line's text (after "NNN-"/"NNN ") joined by '\n'. */
static int cli_reply(struct cli *c, char *text, size_t textsz)
{
	text[0] = '\0';
	size_t tl = 0;
	for (;;) {
		char *eol = c->len > 0 ? memchr(c->buf, '\n', c->len) : NULL;
		if (eol == NULL) {
			ck_assert_int_lt(c->len, sizeof(c->buf));
			int n = c->ssl != NULL ? SSL_read(c->ssl, c->buf + c->len,
							  (int)(sizeof(c->buf) - c->len))
					       : (int)recv(c->fd, c->buf + c->len,
							   sizeof(c->buf) - c->len, 0);
			if (n <= 0)
				return -1;
			c->len += (size_t)n;
			continue;
		}
		size_t ll = (size_t)(eol - c->buf) + 1;
		char line[8192];
		size_t cl = ll < sizeof(line) ? ll : sizeof(line) - 1;
		memcpy(line, c->buf, cl);
		line[cl] = '\0';
		line[strcspn(line, "\r\n")] = '\0';
		memmove(c->buf, c->buf + ll, c->len - ll);
		c->len -= ll;
		ck_assert_int_ge(strlen(line), 3);
		if (strlen(line) > 4) {
			int w = snprintf(text + tl, textsz - tl, "%s%s", tl ? "\n" : "", line + 4);
			if (w > 0 && (size_t)w < textsz - tl)
				tl += (size_t)w;
		}
		if (line[3] != '-')
			return atoi(line);
	}
}

static int cmd(struct cli *c, char *text, size_t textsz, const char *line)
{
	cli_send(c, "%s", line);
	return cli_reply(c, text, textsz);
}

/* The mechanisms of the EHLO AUTH keyword (empty when none). */
static void cli_ehlo(struct cli *c, char *mechs, size_t sz)
{
	char text[8192];
	ck_assert_int_eq(cmd(c, text, sizeof(text), "EHLO client.example"), 250);
	mechs[0] = '\0';
	for (char *l = strtok(text, "\n"); l != NULL; l = strtok(NULL, "\n")) {
		if (strncmp(l, "AUTH ", 5) == 0)
			snprintf(mechs, sz, " %s ", l + 5);
	}
}

static bool has_mech(const char *mechs, const char *m)
{
	char k[64];
	snprintf(k, sizeof(k), " %s ", m);
	return strstr(mechs, k) != NULL;
}

/* Implicit TLS on 465, or STARTTLS on 587. */
static void cli_open(struct cli *c, bool implicit, int version, const char *cert, char *mechs,
		     size_t sz)
{
	char text[8192];
	cli_connect(c, implicit ? g_port_465 : g_port_587);
	if (implicit)
		cli_tls(c, version, cert);
	ck_assert_int_eq(cli_reply(c, text, sizeof(text)), 220);
	if (!implicit) {
		ck_assert_int_eq(cmd(c, text, sizeof(text), "EHLO client.example"), 250);
		ck_assert_int_eq(cmd(c, text, sizeof(text), "STARTTLS"), 220);
		cli_tls(c, version, cert);
	}
	cli_ehlo(c, mechs, sz);
}

/* --- SCRAM-SHA-256-PLUS (RFC 5802 §3, §5, §6; RFC 7677) -------------------------------- */

static void b64e(const unsigned char *p, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
}

static size_t b64d(const char *s, unsigned char *out)
{
	size_t n = strlen(s);
	int r = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	ck_assert_int_ge(r, 0);
	size_t len = (size_t)r;
	for (size_t i = n; i > 0 && s[i - 1] == '='; i--)
		len--;
	out[len] = '\0';
	return len;
}

static const char *attr(const char *msg, char name, char *out, size_t sz)
{
	for (const char *p = msg; p != NULL && *p != '\0';) {
		const char *end = strchr(p, ',');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (n >= 2 && p[0] == name && p[1] == '=') {
			snprintf(out, sz, "%.*s", (int)(n - 2), p + 2);
			return out;
		}
		p = end != NULL ? end + 1 : NULL;
	}
	return NULL;
}

static void hmac(const unsigned char *k, size_t kl, const void *m, size_t ml, unsigned char out[32])
{
	unsigned int ol = 32;
	ck_assert_ptr_nonnull(HMAC(EVP_sha256(), k, (int)kl, m, ml, out, &ol));
}

/*
 * Authenticate with SCRAM-SHA-256-PLUS binding cbname to cb (flipping one byte when
 * corrupt). Returns the final SMTP reply code (235 success, 535 refused); a success also
 * checks the server's signature.
 */
static int scram_plus(struct cli *c, const char *cbname, const unsigned char *cb, size_t cblen,
		      bool corrupt)
{
	char text[8192], b64[8192];
	unsigned char raw[4096];
	unsigned char nb[18];
	ck_assert_int_eq(RAND_bytes(nb, sizeof(nb)), 1);
	char cnonce[32];
	b64e(nb, sizeof(nb), cnonce);
	char gs2[64], cfb[256], cfirst[320];
	snprintf(gs2, sizeof(gs2), "p=%s,,", cbname);
	snprintf(cfb, sizeof(cfb), "n=%s,r=%s", USER, cnonce);
	snprintf(cfirst, sizeof(cfirst), "%s%s", gs2, cfb);
	b64e((const unsigned char *)cfirst, strlen(cfirst), b64);
	cli_send(c, "AUTH SCRAM-SHA-256-PLUS %s", b64);
	int code = cli_reply(c, text, sizeof(text));
	if (code != 334)
		return code;
	char sfirst[2048];
	b64d(text, (unsigned char *)sfirst);
	char nonce[256], salt64[256], iters[32];
	ck_assert_ptr_nonnull(attr(sfirst, 'r', nonce, sizeof(nonce)));
	ck_assert_ptr_nonnull(attr(sfirst, 's', salt64, sizeof(salt64)));
	ck_assert_ptr_nonnull(attr(sfirst, 'i', iters, sizeof(iters)));
	ck_assert(strncmp(nonce, cnonce, strlen(cnonce)) == 0);
	/* c= is the base64 of the GS2 header followed by the channel binding data. */
	size_t gl = strlen(gs2);
	memcpy(raw, gs2, gl);
	memcpy(raw + gl, cb, cblen);
	if (corrupt)
		raw[gl + cblen / 2] ^= 0x01;
	char cbind[512], cfwp[1024];
	b64e(raw, gl + cblen, cbind);
	snprintf(cfwp, sizeof(cfwp), "c=%s,r=%s", cbind, nonce);
	unsigned char salt[256], salted[32], ckey[32], skey[32], stored[32], csig[32], ssig[32];
	size_t sl = b64d(salt64, salt);
	ck_assert_int_eq(PKCS5_PBKDF2_HMAC(PASS, (int)strlen(PASS), salt, (int)sl, atoi(iters),
					   EVP_sha256(), 32, salted),
			 1);
	hmac(salted, 32, "Client Key", 10, ckey);
	hmac(salted, 32, "Server Key", 10, skey);
	SHA256(ckey, 32, stored);
	char authmsg[4096];
	snprintf(authmsg, sizeof(authmsg), "%s,%s,%s", cfb, sfirst, cfwp);
	hmac(stored, 32, authmsg, strlen(authmsg), csig);
	hmac(skey, 32, authmsg, strlen(authmsg), ssig);
	unsigned char proof[32];
	for (int i = 0; i < 32; i++)
		proof[i] = ckey[i] ^ csig[i];
	char proof64[64], cfinal[2048];
	b64e(proof, 32, proof64);
	snprintf(cfinal, sizeof(cfinal), "%s,p=%s", cfwp, proof64);
	b64e((const unsigned char *)cfinal, strlen(cfinal), b64);
	cli_send(c, "%s", b64);
	code = cli_reply(c, text, sizeof(text));
	if (code != 334)
		return code;
	/* RFC 4954 §4: the server-final message comes as a challenge; answer it empty. */
	char sfinal[512], v[128], ssig64[64];
	b64d(text, (unsigned char *)sfinal);
	ck_assert_ptr_nonnull(attr(sfinal, 'v', v, sizeof(v)));
	b64e(ssig, 32, ssig64);
	ck_assert_str_eq(v, ssig64);
	cli_send(c, "%s", "");
	code = cli_reply(c, text, sizeof(text));
	if (code != 235)
		fprintf(stderr, "scram final: %d %s\n", code, text);
	return code;
}

/* RFC 9266 §2: the client side of tls-exporter. */
static void exporter(struct cli *c, unsigned char out[32])
{
	static const char label[] = "EXPORTER-Channel-Binding";
	ck_assert_int_eq(
		SSL_export_keying_material(c->ssl, out, 32, label, sizeof(label) - 1, NULL, 0, 0),
		1);
}

/* RFC 5929 §4.1: hash of the server's certificate with its signature's hash (MD5 and SHA-1
 * become SHA-256). */
static size_t end_point(struct cli *c, unsigned char out[EVP_MAX_MD_SIZE])
{
	X509 *x = SSL_get1_peer_certificate(c->ssl);
	ck_assert_ptr_nonnull(x);
	int md_nid = NID_undef;
	ck_assert_int_eq(OBJ_find_sigid_algs(X509_get_signature_nid(x), &md_nid, NULL), 1);
	if (md_nid == NID_md5 || md_nid == NID_sha1)
		md_nid = NID_sha256;
	const EVP_MD *md = EVP_get_digestbynid(md_nid);
	ck_assert_ptr_nonnull(md);
	unsigned int n = 0;
	ck_assert_int_eq(X509_digest(x, md, out, &n), 1);
	X509_free(x);
	return n;
}

/* --- tests -------------------------------------------------------------------------------- */

START_TEST(test_plus_exporter_tls13)
{
	for (int round = 0; round < 2; round++) {
		struct cli c;
		char mechs[1024];
		/* 465 (implicit TLS), then 587 after STARTTLS, both TLS 1.3. */
		cli_open(&c, round == 0, TLS1_3_VERSION, NULL, mechs, sizeof(mechs));
		ck_assert_msg(has_mech(mechs, "SCRAM-SHA-256-PLUS"), "offered: %s", mechs);
		ck_assert_msg(!has_mech(mechs, "EXTERNAL"), "offered: %s", mechs);
		unsigned char cb[32];
		exporter(&c, cb);
		ck_assert_int_eq(scram_plus(&c, "tls-exporter", cb, sizeof(cb), true), 535);
		ck_assert_int_eq(scram_plus(&c, "tls-exporter", cb, sizeof(cb), false), 235);
		cli_close(&c);
	}
}
END_TEST

START_TEST(test_plus_end_point_tls12)
{
	for (int round = 0; round < 2; round++) {
		struct cli c;
		char mechs[1024];
		cli_open(&c, round == 1, TLS1_2_VERSION, NULL, mechs, sizeof(mechs));
		ck_assert_msg(has_mech(mechs, "SCRAM-SHA-256-PLUS"), "offered: %s", mechs);
		unsigned char cb[EVP_MAX_MD_SIZE];
		size_t n = end_point(&c, cb);
		/* RFC 9266 §3: no tls-exporter below TLS 1.3, whatever the client sends. */
		unsigned char fake[32] = {0};
		ck_assert_int_eq(scram_plus(&c, "tls-exporter", fake, sizeof(fake), false), 535);
		ck_assert_int_eq(scram_plus(&c, "tls-server-end-point", cb, n, true), 535);
		ck_assert_int_eq(scram_plus(&c, "tls-server-end-point", cb, n, false), 235);
		cli_close(&c);
	}
}
END_TEST

START_TEST(test_plus_end_point_tls13)
{
	struct cli c;
	char mechs[1024];
	cli_open(&c, true, TLS1_3_VERSION, NULL, mechs, sizeof(mechs));
	unsigned char cb[EVP_MAX_MD_SIZE];
	size_t n = end_point(&c, cb);
	ck_assert_int_eq(scram_plus(&c, "tls-server-end-point", cb, n, false), 235);
	cli_close(&c);
}
END_TEST

static int external(struct cli *c)
{
	char text[8192];
	return cmd(c, text, sizeof(text), "AUTH EXTERNAL =");
}

START_TEST(test_external)
{
	static const struct {
		bool implicit;
		int version;
	} modes[] = {{true, TLS1_3_VERSION}, {false, TLS1_3_VERSION}, {true, TLS1_2_VERSION}};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct cli c;
		char mechs[1024], text[8192];
		/* Issued by tls.client-ca for alice: offered and accepted. */
		cli_open(&c, modes[i].implicit, modes[i].version, "alice", mechs, sizeof(mechs));
		ck_assert_msg(has_mech(mechs, "EXTERNAL"), "offered: %s", mechs);
		ck_assert_int_eq(external(&c), 235);
		/* Authenticated as alice: the submission may use her address. */
		ck_assert_int_eq(cmd(&c, text, sizeof(text), "MAIL FROM:<" USER ">"), 250);
		cli_close(&c);
		/* Issued by the CA for an address no account owns: refused. */
		cli_open(&c, modes[i].implicit, modes[i].version, "bob", mechs, sizeof(mechs));
		ck_assert_msg(has_mech(mechs, "EXTERNAL"), "offered: %s", mechs);
		ck_assert_int_eq(external(&c), 535);
		cli_close(&c);
		/* Self-signed with alice's address: not verified, so EXTERNAL is neither offered
		 * nor accepted. */
		cli_open(&c, modes[i].implicit, modes[i].version, "rogue", mechs, sizeof(mechs));
		ck_assert_msg(!has_mech(mechs, "EXTERNAL"), "offered: %s", mechs);
		int code = external(&c);
		ck_assert_msg(code == 504 || code == 535,
			      "AUTH EXTERNAL without a verified "
			      "certificate gave %d",
			      code);
		cli_close(&c);
		/* No certificate at all. */
		cli_open(&c, modes[i].implicit, modes[i].version, NULL, mechs, sizeof(mechs));
		ck_assert_msg(!has_mech(mechs, "EXTERNAL"), "offered: %s", mechs);
		code = external(&c);
		ck_assert(code == 504 || code == 535);
		cli_close(&c);
	}
}
END_TEST

static Suite *sasl_tls_suite(void)
{
	Suite *s = suite_create("server_smtp_sasl_tls");
	TCase *tc = tcase_create("live");
	tcase_set_timeout(tc, 180);
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_plus_exporter_tls13);
	tcase_add_test(tc, test_plus_end_point_tls12);
	tcase_add_test(tc, test_plus_end_point_tls13);
	tcase_add_test(tc, test_external);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sasl_tls_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
