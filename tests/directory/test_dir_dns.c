/*
 * test_dir_dns.c: DNS records of a domain (dir_dns.c) checked against values computed
 * independently with the openssl command line: TLSA digests of the certificate and its
 * public key (and of the issuer in a chain), DKIM p= values of generated keys, the MTA-STS
 * policy id; plus the fixed records (MX, SPF, DMARC, TLS-RPT, SRV, CNAMEs) and bad input.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helper_dir.h"

static char tmp[128];
static struct core_error err;

static char *sh_out(const char *cmd)
{
	FILE *f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	struct core_buf b = CORE_BUF_INIT;
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		core_buf_append(&b, buf, n);
	int rc = pclose(f);
	ck_assert_msg(rc == 0, "command failed: %s", cmd);
	while (b.len > 0 && (b.p[b.len - 1] == '\n' || b.p[b.len - 1] == ' '))
		b.len--;
	core_buf_putc(&b, 0);
	return core_buf_detach(&b, NULL);
}

static char *read_file(const char *name, size_t *len)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	FILE *f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	struct core_buf b = CORE_BUF_INIT;
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		core_buf_append(&b, buf, n);
	fclose(f);
	return core_buf_detach(&b, len);
}

static void setup(void)
{
	core_error_clear(&err);
	snprintf(tmp, sizeof(tmp), "/tmp/staunch-dns.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	char cmd[2048];
	/* A CA and a leaf for mail.example.org it signed; chain.pem = leaf + CA. */
	snprintf(cmd, sizeof(cmd),
		 "cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		 "-keyout ca.key -out ca.pem -days 2 -subj /CN=Test-CA >/dev/null 2>&1 && "
		 "openssl req -new -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr "
		 "-subj /CN=mail.example.org >/dev/null 2>&1 && "
		 "openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
		 "-out leaf.pem -days 2 >/dev/null 2>&1 && cat leaf.pem ca.pem > chain.pem",
		 tmp);
	test_dir_sh(cmd);
}

static void teardown(void)
{
	test_dir_rmtree(tmp);
}

static struct dir_dns_input base_input(void)
{
	return (struct dir_dns_input){.domain = "example.org", .hostname = "mail.example.org"};
}

static char *records(const struct dir_dns_input *in)
{
	struct core_buf out = CORE_BUF_INIT;
	int r = dir_dns_records(in, &out, &err);
	ck_assert_msg(r == 0, "%s", err.msg);
	return core_buf_detach(&out, NULL);
}

static void has_line(const char *zone, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = zone; (p = strstr(p, line)) != NULL; p++)
		if ((p == zone || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return;
	ck_abort_msg("missing line: %s\n--- in ---\n%s", line, zone);
}

START_TEST(test_fixed_records)
{
	struct dir_dns_input in = base_input();
	char *z = records(&in);
	static const char *const lines[] = {
		"example.org. 3600 IN MX 10 mail.example.org.",
		"mail.example.org. 3600 IN TXT \"v=spf1 a -all\"",
		"example.org. 3600 IN TXT \"v=spf1 mx -all\"",
		"_dmarc.example.org. 3600 IN TXT \"v=DMARC1; p=reject; "
		"rua=mailto:postmaster@example.org\"",
		"mta-sts.example.org. 3600 IN CNAME mail.example.org.",
		"_smtp._tls.example.org. 3600 IN TXT \"v=TLSRPTv1; "
		"rua=mailto:postmaster@example.org\"",
		"_submissions._tcp.example.org. 3600 IN SRV 0 1 465 mail.example.org.",
		"_submission._tcp.example.org. 3600 IN SRV 10 1 587 mail.example.org.",
		"_imaps._tcp.example.org. 3600 IN SRV 0 1 993 mail.example.org.",
		"_imap._tcp.example.org. 3600 IN SRV 10 1 143 mail.example.org.",
		"_jmap._tcp.example.org. 3600 IN SRV 0 1 443 mail.example.org.",
		"autoconfig.example.org. 3600 IN CNAME mail.example.org.",
		"autodiscover.example.org. 3600 IN CNAME mail.example.org.",
	};
	for (size_t i = 0; i < CORE_NELEM(lines); i++)
		has_line(z, lines[i]);
	/* pop3 only when enabled; no TLSA without a certificate. */
	ck_assert_ptr_null(strstr(z, "_pop3"));
	ck_assert_ptr_null(strstr(z, "TLSA"));
	free(z);
	in.pop3 = true;
	in.ttl = 300;
	in.dmarc_policy = "quarantine";
	in.report_to = "reports@example.net";
	z = records(&in);
	has_line(z, "_pop3s._tcp.example.org. 300 IN SRV 0 1 995 mail.example.org.");
	has_line(z, "_pop3._tcp.example.org. 300 IN SRV 10 1 110 mail.example.org.");
	has_line(z, "_dmarc.example.org. 300 IN TXT \"v=DMARC1; p=quarantine; "
		    "rua=mailto:reports@example.net\"");
	free(z);
}
END_TEST

START_TEST(test_mta_sts_id)
{
	struct dir_dns_input in = base_input();
	char id[21];
	dir_dns_mta_sts_id(&in, id);
	char *want =
		sh_out("printf 'version: STSv1\\r\\nmode: enforce\\r\\nmx: mail.example.org\\r\\n"
		       "max_age: 604800\\r\\n' | openssl dgst -sha256 -r | cut -c1-20");
	ck_assert_str_eq(id, want);
	char *z = records(&in);
	char line[128];
	snprintf(line, sizeof(line), "_mta-sts.example.org. 3600 IN TXT \"v=STSv1; id=%s\"", want);
	has_line(z, line);
	free(z);
	free(want);
	/* RFC 8461 §3.1: the id changes when the policy does. */
	in.mta_sts_max_age = 86400;
	char id2[21];
	dir_dns_mta_sts_id(&in, id2);
	ck_assert_str_ne(id, id2);
}
END_TEST

static char *ossl_hex(const char *pipeline)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "cd %s && %s | cut -d' ' -f1 | tr a-f A-F", tmp, pipeline);
	return sh_out(cmd);
}

static void check_tlsa(const char *zone, const char *usage, const char *pem)
{
	char c1[512], c2[512], c3[512], c4[512];
	snprintf(c1, sizeof(c1), "openssl x509 -in %s -outform DER | openssl dgst -sha256 -r", pem);
	snprintf(c2, sizeof(c2), "openssl x509 -in %s -outform DER | openssl dgst -sha512 -r", pem);
	snprintf(c3, sizeof(c3),
		 "openssl x509 -in %s -pubkey -noout | openssl pkey -pubin -outform DER | "
		 "openssl dgst -sha256 -r",
		 pem);
	snprintf(c4, sizeof(c4),
		 "openssl x509 -in %s -pubkey -noout | openssl pkey -pubin -outform DER | "
		 "openssl dgst -sha512 -r",
		 pem);
	const char *cmds[4] = {c1, c2, c3, c4};
	const char *kinds[4] = {"0 1", "0 2", "1 1", "1 2"};
	for (int i = 0; i < 4; i++) {
		char *h = ossl_hex(cmds[i]);
		char line[512];
		snprintf(line, sizeof(line), "_25._tcp.mail.example.org. 3600 IN TLSA %s %s %s",
			 usage, kinds[i], h);
		has_line(zone, line);
		free(h);
	}
}

START_TEST(test_tlsa_chain)
{
	size_t len;
	char *pem = read_file("chain.pem", &len);
	struct dir_dns_input in = base_input();
	in.cert_pem = pem;
	in.cert_pem_len = len;
	char *z = records(&in);
	check_tlsa(z, "3", "leaf.pem");
	check_tlsa(z, "2", "ca.pem");
	free(z);
	free(pem);
	/* Leaf only: no issuer records. */
	pem = read_file("leaf.pem", &len);
	in.cert_pem = pem;
	in.cert_pem_len = len;
	z = records(&in);
	check_tlsa(z, "3", "leaf.pem");
	ck_assert_ptr_null(strstr(z, "TLSA 2"));
	free(z);
	free(pem);
}
END_TEST

static void check_dkim(enum dir_dkim_alg alg, const char *ossl_tail)
{
	struct core_buf priv = CORE_BUF_INIT, p = CORE_BUF_INIT, p2 = CORE_BUF_INIT;
	ck_assert_int_eq(dir_dkim_keygen(alg, &priv, &p, &err), 0);
	char path[256];
	snprintf(path, sizeof(path), "%s/dkim.pem", tmp);
	FILE *f = fopen(path, "w");
	fwrite(priv.p, 1, priv.len, f);
	fclose(f);
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "openssl pkey -in %s -pubout -outform DER %s | base64 -w0", path,
		 ossl_tail);
	char *want = sh_out(cmd);
	ck_assert_str_eq(core_buf_cstr(&p), want);
	free(want);
	/* The same value from the stored private key. */
	enum dir_dkim_alg got;
	ck_assert_int_eq(dir_dkim_public(priv.p, priv.len, &got, &p2, &err), 0);
	ck_assert_int_eq(got, alg);
	ck_assert_str_eq(core_buf_cstr(&p2), core_buf_cstr(&p));
	if (alg == DIR_DKIM_RSA) {
		snprintf(cmd, sizeof(cmd), "openssl pkey -in %s -noout -text | head -n 1", path);
		char *bits = sh_out(cmd);
		ck_assert_ptr_nonnull(strstr(bits, "2048 bit"));
		free(bits);
	}
	/* Published as v=DKIM1 TXT, split into character-strings of at most 255 octets. */
	struct dir_dkim_pub k = {.selector = "sel1", .alg = alg, .p = core_buf_cstr(&p)};
	struct dir_dns_input in = base_input();
	in.dkim = &k;
	in.n_dkim = 1;
	char *z = records(&in);
	const char *l = strstr(z, "sel1._domainkey.example.org. 3600 IN TXT ");
	ck_assert_ptr_nonnull(l);
	l = strchr(l, '"');
	struct core_buf joined = CORE_BUF_INIT;
	while (*l == '"') {
		const char *e = strchr(l + 1, '"');
		ck_assert_uint_le((size_t)(e - l - 1), 255);
		core_buf_append(&joined, l + 1, (size_t)(e - l - 1));
		l = e + 1;
		if (*l == ' ')
			l++;
	}
	ck_assert_int_eq(*l, '\n');
	char wantrec[1024];
	snprintf(wantrec, sizeof(wantrec), "v=DKIM1; k=%s; p=%s",
		 alg == DIR_DKIM_RSA ? "rsa" : "ed25519", core_buf_cstr(&p));
	ck_assert_str_eq(core_buf_cstr(&joined), wantrec);
	free(z);
	core_buf_fini(&joined);
	core_buf_fini_wipe(&priv);
	core_buf_fini(&p);
	core_buf_fini(&p2);
}

START_TEST(test_dkim_ed25519)
{
	/* RFC 8463 §4.2: the raw key is the last 32 octets of its SubjectPublicKeyInfo. */
	check_dkim(DIR_DKIM_ED25519, "| tail -c 32");
}
END_TEST

START_TEST(test_dkim_rsa)
{
	check_dkim(DIR_DKIM_RSA, "");
}
END_TEST

START_TEST(test_bad_input)
{
	struct core_buf out = CORE_BUF_INIT;
	struct dir_dns_input in = base_input();
	in.domain = "exa mple.org";
	ck_assert_int_eq(dir_dns_records(&in, &out, &err), CORE_ESYNTAX);
	in = base_input();
	in.hostname = "";
	ck_assert_int_eq(dir_dns_records(&in, &out, &err), CORE_ESYNTAX);
	in = base_input();
	in.domain = "a..b";
	ck_assert_int_eq(dir_dns_records(&in, &out, &err), CORE_ESYNTAX);
	in = base_input();
	struct dir_dkim_pub k = {.selector = "bad sel", .p = "AAAA"};
	in.dkim = &k;
	in.n_dkim = 1;
	ck_assert_int_eq(dir_dns_records(&in, &out, &err), CORE_ESYNTAX);
	k.selector = "ok";
	k.p = "not\"base64";
	ck_assert_int_eq(dir_dns_records(&in, &out, &err), CORE_ESYNTAX);
	in = base_input();
	in.cert_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
	in.cert_pem_len = strlen(in.cert_pem);
	ck_assert_int_eq(dir_dns_records(&in, &out, &err), CORE_ESYNTAX);
	in = base_input();
	in.report_to = "a@b\"; p=none";
	ck_assert_int_eq(dir_dns_records(&in, &out, &err), CORE_ESYNTAX);
	in = base_input();
	in.dmarc_policy = "maybe";
	ck_assert_int_eq(dir_dns_records(&in, &out, &err), CORE_ESYNTAX);
	ck_assert_uint_eq(out.len, 0); /* nothing printed on error */
	enum dir_dkim_alg alg;
	ck_assert_int_eq(dir_dkim_public("garbage", 7, &alg, &out, &err), CORE_ESYNTAX);
	core_buf_fini(&out);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("dir_dns");
	TCase *tc = tcase_create("dns");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_fixed_records);
	tcase_add_test(tc, test_mta_sts_id);
	tcase_add_test(tc, test_tlsa_chain);
	tcase_add_test(tc, test_dkim_ed25519);
	tcase_add_test(tc, test_dkim_rsa);
	tcase_add_test(tc, test_bad_input);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
