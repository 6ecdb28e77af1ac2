/*
 * test_tls_cb.c: channel bindings and the client certificate (src/net/net_tls_cb.c) over
 * real TLS handshakes between net's server context and an OpenSSL client on a socketpair:
 * tls-exporter (RFC 9266) equals what the client derives and exists on TLS 1.3 only;
 * tls-server-end-point (RFC 5929 §4.1) is the certificate's hash under its signature hash,
 * SHA-256 for MD5/SHA-1, undefined for Ed25519; a client certificate counts only when it
 * verifies against the configured CA file.
 */
#include <check.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net_int.h"

static char dir[256];

static EVP_PKEY *key_new(int type)
{
	EVP_PKEY *k = type == EVP_PKEY_ED25519 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
					       : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ck_assert_ptr_nonnull(k);
	return k;
}

/* A certificate for key k named cn, signed by issuer (NULL: self-signed) with md. */
static X509 *cert_new(EVP_PKEY *k, const char *cn, X509 *issuer, EVP_PKEY *ikey, const EVP_MD *md,
		      bool ca)
{
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(random() & 0x7fffffff) + 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : n);
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
						ca ? "critical,CA:TRUE" : "CA:FALSE");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	if (!ca) {
		e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost");
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	ck_assert_int_gt(X509_sign(x, ikey != NULL ? ikey : k, md), 0);
	return x;
}

static void pem_write(const char *name, X509 *x, EVP_PKEY *k)
{
	char p[400];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	if (x != NULL)
		PEM_write_X509(f, x);
	if (k != NULL)
		PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
}

static char *path_of(const char *name)
{
	return core_xasprintf("%s/%s", dir, name);
}

/* The CA, a server certificate (ECDSA with md) and its files; the server's net TLS set. */
struct pki {
	EVP_PKEY *ca_key, *srv_key, *cli_key, *rogue_key;
	X509 *ca, *srv, *cli, *rogue;
};
static struct pki pki;

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/staunch-tlscb.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	pki.ca_key = key_new(EVP_PKEY_EC);
	pki.ca = cert_new(pki.ca_key, "Test CA", NULL, NULL, EVP_sha256(), true);
	pki.srv_key = key_new(EVP_PKEY_EC);
	pki.srv = cert_new(pki.srv_key, "localhost", pki.ca, pki.ca_key, EVP_sha384(), false);
	pki.cli_key = key_new(EVP_PKEY_EC);
	pki.cli = cert_new(pki.cli_key, "alice", pki.ca, pki.ca_key, EVP_sha256(), false);
	pki.rogue_key = key_new(EVP_PKEY_EC);
	pki.rogue = cert_new(pki.rogue_key, "alice", NULL, NULL, EVP_sha256(), false);
	pem_write("ca.pem", pki.ca, NULL);
	pem_write("srv.pem", pki.srv, NULL);
	pem_write("srv.key", NULL, pki.srv_key);
}

static void teardown(void)
{
	EVP_PKEY_free(pki.ca_key);
	EVP_PKEY_free(pki.srv_key);
	EVP_PKEY_free(pki.cli_key);
	EVP_PKEY_free(pki.rogue_key);
	X509_free(pki.ca);
	X509_free(pki.srv);
	X509_free(pki.cli);
	X509_free(pki.rogue);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static struct net_tls_set *server_set(bool client_ca)
{
	char *cf = path_of("srv.pem"), *kf = path_of("srv.key"), *ca = path_of("ca.pem");
	struct net_tls_cert_cfg cc = {cf, kf};
	struct net_runtime_cfg cfg = {.certs = &cc, .ncerts = 1};
	if (client_ca)
		cfg.tls_client_ca = ca;
	struct core_error err;
	core_error_clear(&err);
	struct net_tls_set *set = net_tls_set_load(&cfg, &err);
	ck_assert_msg(set != NULL, "load: %s", err.msg);
	free(cf);
	free(kf);
	free(ca);
	return set;
}

struct pair {
	SSL *srv, *cli;
	SSL_CTX *cctx;
	int fds[2];
};

/* Handshake a client (max_version, optional certificate) against set over a socketpair. */
static void pair_open(struct pair *p, struct net_tls_set *set, int max_version, X509 *cert,
		      EVP_PKEY *key)
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, p->fds), 0);
	for (int i = 0; i < 2; i++)
		fcntl(p->fds[i], F_SETFL, O_NONBLOCK);
	p->srv = net_tls_ssl_new(set);
	ck_assert_ptr_nonnull(p->srv);
	SSL_set_fd(p->srv, p->fds[0]);
	SSL_set_accept_state(p->srv);
	p->cctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_max_proto_version(p->cctx, max_version);
	if (cert != NULL) {
		ck_assert_int_eq(SSL_CTX_use_certificate(p->cctx, cert), 1);
		ck_assert_int_eq(SSL_CTX_use_PrivateKey(p->cctx, key), 1);
	}
	p->cli = SSL_new(p->cctx);
	SSL_set_fd(p->cli, p->fds[1]);
	SSL_set_connect_state(p->cli);
	SSL_set_tlsext_host_name(p->cli, "localhost");
	bool sdone = false, cdone = false;
	for (int round = 0; round < 200 && !(sdone && cdone); round++) {
		if (!cdone) {
			int r = SSL_do_handshake(p->cli);
			cdone = r == 1;
			if (r != 1) {
				int e = SSL_get_error(p->cli, r);
				ck_assert_msg(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE,
					      "client handshake error %d", e);
			}
		}
		if (!sdone) {
			int r = SSL_do_handshake(p->srv);
			sdone = r == 1;
			if (r != 1) {
				int e = SSL_get_error(p->srv, r);
				ck_assert_msg(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE,
					      "server handshake error %d", e);
			}
		}
	}
	ck_assert(sdone && cdone);
	/* TLS 1.3 sends the server's session tickets after the handshake: let the client
	 * read them so the connection is complete on both sides. */
	char b;
	SSL_read(p->cli, &b, 1);
	ERR_clear_error();
}

static void pair_close(struct pair *p)
{
	SSL_free(p->srv);
	SSL_free(p->cli);
	SSL_CTX_free(p->cctx);
	close(p->fds[0]);
	close(p->fds[1]);
}

START_TEST(exporter_tls13)
{
	struct net_tls_set *set = server_set(false);
	struct pair a, b;
	pair_open(&a, set, TLS1_3_VERSION, NULL, NULL);
	pair_open(&b, set, TLS1_3_VERSION, NULL, NULL);
	unsigned char sv[NET_TLS_EXPORTER_LEN], cv[NET_TLS_EXPORTER_LEN],
		other[NET_TLS_EXPORTER_LEN];
	ck_assert_int_eq(net_tls_exporter_ssl(a.srv, sv), 0);
	/* The client derives the same value from its side of the handshake. */
	static const char label[] = "EXPORTER-Channel-Binding";
	ck_assert_int_eq(SSL_export_keying_material(a.cli, cv, sizeof(cv), label, sizeof(label) - 1,
						    NULL, 0, 0),
			 1);
	ck_assert(memcmp(sv, cv, sizeof(sv)) == 0);
	/* Another connection, another value. */
	ck_assert_int_eq(net_tls_exporter_ssl(b.srv, other), 0);
	ck_assert(memcmp(sv, other, sizeof(sv)) != 0);
	/* A different label gives a different value: the label is the one of RFC 9266. */
	static const char wrong[] = "EXPORTER-Channel-Binding-X";
	ck_assert_int_eq(SSL_export_keying_material(a.cli, cv, sizeof(cv), wrong, sizeof(wrong) - 1,
						    NULL, 0, 0),
			 1);
	ck_assert(memcmp(sv, cv, sizeof(sv)) != 0);
	pair_close(&a);
	pair_close(&b);
	net_tls_set_unref(set);
}
END_TEST

START_TEST(exporter_not_on_tls12)
{
	struct net_tls_set *set = server_set(false);
	struct pair a;
	pair_open(&a, set, TLS1_2_VERSION, NULL, NULL);
	ck_assert_int_eq(SSL_version(a.srv), TLS1_2_VERSION);
	unsigned char sv[NET_TLS_EXPORTER_LEN];
	ck_assert_int_eq(net_tls_exporter_ssl(a.srv, sv), CORE_EPERM);
	/* tls-server-end-point works on TLS 1.2 too. */
	unsigned char ep[NET_TLS_END_POINT_MAX];
	size_t n = 0;
	ck_assert_int_eq(net_tls_end_point_ssl(a.srv, ep, &n), 0);
	ck_assert_uint_eq(n, 48);
	pair_close(&a);
	net_tls_set_unref(set);
	/* No TLS at all. */
	ck_assert_int_eq(net_tls_exporter_ssl(NULL, sv), CORE_ENOTFOUND);
	ck_assert_int_eq(net_tls_end_point_ssl(NULL, ep, &n), CORE_ENOTFOUND);
}
END_TEST

START_TEST(end_point_matches_client_view)
{
	struct net_tls_set *set = server_set(false);
	struct pair a;
	pair_open(&a, set, TLS1_3_VERSION, NULL, NULL);
	unsigned char ep[NET_TLS_END_POINT_MAX], want[EVP_MAX_MD_SIZE];
	size_t n = 0;
	ck_assert_int_eq(net_tls_end_point_ssl(a.srv, ep, &n), 0);
	/* The server certificate is signed with ECDSA-SHA-384: the binding is its SHA-384
	 * hash, as the client computes it from the certificate it received. */
	X509 *seen = SSL_get0_peer_certificate(a.cli);
	ck_assert_ptr_nonnull(seen);
	unsigned wl = 0;
	ck_assert_int_eq(X509_digest(seen, EVP_sha384(), want, &wl), 1);
	ck_assert_uint_eq(n, wl);
	ck_assert(memcmp(ep, want, n) == 0);
	pair_close(&a);
	net_tls_set_unref(set);
}
END_TEST

START_TEST(end_point_hash_rules)
{
	unsigned char ep[NET_TLS_END_POINT_MAX], want[EVP_MAX_MD_SIZE];
	size_t n = 0;
	unsigned wl = 0;
	/* RFC 5929 §4.1: SHA-1 (and MD5) signatures use SHA-256. */
	X509 *x = cert_new(pki.srv_key, "old", pki.ca, pki.ca_key, EVP_sha1(), false);
	ck_assert_int_eq(net_tls_end_point_hash(x, ep, &n), 0);
	ck_assert_int_eq(X509_digest(x, EVP_sha256(), want, &wl), 1);
	ck_assert_uint_eq(n, 32);
	ck_assert(memcmp(ep, want, n) == 0);
	X509_free(x);
	/* SHA-512 stays SHA-512. */
	x = cert_new(pki.srv_key, "big", pki.ca, pki.ca_key, EVP_sha512(), false);
	ck_assert_int_eq(net_tls_end_point_hash(x, ep, &n), 0);
	ck_assert_int_eq(X509_digest(x, EVP_sha512(), want, &wl), 1);
	ck_assert_uint_eq(n, 64);
	ck_assert(memcmp(ep, want, n) == 0);
	X509_free(x);
	/* Ed25519 has no separate hash: the binding is undefined. */
	EVP_PKEY *ek = key_new(EVP_PKEY_ED25519);
	x = cert_new(ek, "ed", NULL, NULL, NULL, false);
	ck_assert_int_eq(net_tls_end_point_hash(x, ep, &n), CORE_ENOTFOUND);
	X509_free(x);
	EVP_PKEY_free(ek);
	ck_assert_int_eq(net_tls_end_point_hash(NULL, ep, &n), CORE_ENOTFOUND);
}
END_TEST

START_TEST(client_certificates)
{
	struct net_tls_set *set = server_set(true);
	struct core_buf der = CORE_BUF_INIT;
	struct pair a;
	/* Verified against the CA file: the DER of the client's certificate. */
	pair_open(&a, set, TLS1_3_VERSION, pki.cli, pki.cli_key);
	ck_assert_int_eq(net_tls_client_cert_ssl(a.srv, &der), 0);
	unsigned char *want = NULL;
	int wl = i2d_X509(pki.cli, &want);
	ck_assert_int_gt(wl, 0);
	ck_assert_uint_eq(der.len, (size_t)wl);
	ck_assert(memcmp(der.p, want, der.len) == 0);
	OPENSSL_free(want);
	pair_close(&a);
	/* Presented but not issued by the CA: the handshake succeeds, the certificate does
	 * not count. */
	core_buf_reset(&der);
	pair_open(&a, set, TLS1_3_VERSION, pki.rogue, pki.rogue_key);
	ck_assert_int_eq(net_tls_client_cert_ssl(a.srv, &der), CORE_EPERM);
	ck_assert_uint_eq(der.len, 0);
	pair_close(&a);
	/* None presented (and on TLS 1.2). */
	pair_open(&a, set, TLS1_2_VERSION, NULL, NULL);
	ck_assert_int_eq(net_tls_client_cert_ssl(a.srv, &der), CORE_ENOTFOUND);
	pair_close(&a);
	net_tls_set_unref(set);
	/* Without a CA file no certificate is requested, so none arrives. */
	set = server_set(false);
	pair_open(&a, set, TLS1_3_VERSION, pki.cli, pki.cli_key);
	ck_assert_int_eq(net_tls_client_cert_ssl(a.srv, &der), CORE_ENOTFOUND);
	pair_close(&a);
	net_tls_set_unref(set);
	core_buf_fini(&der);
	/* A bad CA file is an error at load. */
	struct net_tls_cert_cfg cc = {"/nonexistent.pem", "/nonexistent.key"};
	char *cf = path_of("srv.pem"), *kf = path_of("srv.key");
	cc.cert_file = cf;
	cc.key_file = kf;
	struct net_runtime_cfg cfg = {.certs = &cc, .ncerts = 1, .tls_client_ca = "/nonexistent"};
	ck_assert_ptr_null(net_tls_set_load(&cfg, NULL));
	free(cf);
	free(kf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("net_tls_cb");
	TCase *tc = tcase_create("tls_cb");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, exporter_tls13);
	tcase_add_test(tc, exporter_not_on_tls12);
	tcase_add_test(tc, end_point_matches_client_view);
	tcase_add_test(tc, end_point_hash_rules);
	tcase_add_test(tc, client_certificates);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
