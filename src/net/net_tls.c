/*
 * net_tls.c: TLS contexts for the listeners (ARCHITECTURE.md §3), OpenSSL 3.
 *
 * - One SSL_CTX per configured certificate; certs[0] is the default and the SNI callback
 *   (RFC 6066 §3) switches to the certificate whose SAN DNS names (or, without any, the
 *   subject CN) match the requested name, wildcards matching one left-most label (RFC 6125
 *   §6.4.3).
 * - TLS 1.2 minimum (RFC 8996 deprecates TLS 1.0 and 1.1), renegotiation off, compression
 *   off, server cipher preference.
 * - Reload builds a complete new set and swaps the pointer under a mutex: connections keep
 *   the set they started with (reference counted), new ones get the new set. A failed reload
 *   keeps the old set.
 * - net_tls_selfsigned_ensure(): a first-run ECDSA P-256 certificate, written 0600 through a
 *   temporary file and rename(2), so a crash never leaves half a key.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "net/net_int.h"

static void net_tls_err(struct core_error *err, const char *what, const char *file)
{
	unsigned long e = ERR_get_error();
	char buf[160] = "";
	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	core_error_set(err, CORE_EIO, NULL, "%s %s: %s", what, file ? file : "", buf);
}

bool net_tls_name_match(const char *pattern, const char *name)
{
	if (strcasecmp(pattern, name) == 0)
		return true;
	/* RFC 6125 §6.4.3: "*." matches exactly one whole left-most label. */
	if (pattern[0] != '*' || pattern[1] != '.')
		return false;
	/* Not on a bare top-level label ("*.com", "*."): the rest must hold a dot itself. */
	const char *rest = pattern + 2;
	if (rest[0] == '\0' || rest[0] == '.' || strchr(rest, '.') == NULL)
		return false;
	const char *dot = strchr(name, '.');
	if (dot == NULL || dot == name)
		return false;
	return strcasecmp(pattern + 1, dot) == 0;
}

static void net_tls_names_add(struct net_tls_cert *tc, const char *s, size_t len)
{
	if (len == 0 || memchr(s, '\0', len) != NULL)
		return;
	char *n = core_xstrndup(s, len);
	for (char *p = n; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	tc->names = core_xrealloc(tc->names, (tc->nnames + 1) * sizeof(*tc->names));
	tc->names[tc->nnames++] = n;
}

/* Collect the DNS names of the certificate: SAN dNSName entries, else the subject CN. */
static void net_tls_names_collect(struct net_tls_cert *tc, X509 *x)
{
	GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	if (sans != NULL) {
		for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
			const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
			if (g->type != GEN_DNS)
				continue;
			const ASN1_IA5STRING *s = g->d.dNSName;
			net_tls_names_add(tc, (const char *)ASN1_STRING_get0_data(s),
					  (size_t)ASN1_STRING_length(s));
		}
		GENERAL_NAMES_free(sans);
	}
	if (tc->nnames > 0)
		return;
	X509_NAME *subj = X509_get_subject_name(x);
	int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	if (idx >= 0) {
		ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
		net_tls_names_add(tc, (const char *)ASN1_STRING_get0_data(cn),
				  (size_t)ASN1_STRING_length(cn));
	}
}

/* RFC 6066 §3: choose the certificate for the server_name the client sent. */
static int net_tls_sni_cb(SSL *ssl, int *alert, void *arg)
{
	struct net_tls_set *set = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (name == NULL || set == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	/* Exact names first, then wildcards, so a.example.com beats *.example.com. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < set->ncerts; i++) {
			const struct net_tls_cert *tc = &set->certs[i];
			for (size_t j = 0; j < tc->nnames; j++) {
				bool wild = tc->names[j][0] == '*';
				if (wild != (pass == 1) || !net_tls_name_match(tc->names[j], name))
					continue;
				if (i != 0)
					SSL_set_SSL_CTX(ssl, tc->ctx);
				return SSL_TLSEXT_ERR_OK;
			}
		}
	}
	/* No match: stay on the default certificate. */
	return SSL_TLSEXT_ERR_OK;
}

/* Client certificates: the handshake never fails on them; the verify result stays in the
 * SSL object for net_tls_client_cert_ssl(). */
static int net_tls_verify_accept(int ok, X509_STORE_CTX *x)
{
	(void)ok;
	(void)x;
	return 1;
}

static void net_tls_cert_fini(struct net_tls_cert *tc)
{
	SSL_CTX_free(tc->ctx);
	for (size_t i = 0; i < tc->nnames; i++)
		free(tc->names[i]);
	free(tc->names);
}

void net_tls_set_unref(struct net_tls_set *set)
{
	if (set == NULL || atomic_fetch_sub(&set->refs, 1) != 1)
		return;
	for (size_t i = 0; i < set->ncerts; i++)
		net_tls_cert_fini(&set->certs[i]);
	free(set->certs);
	free(set);
}

static int net_tls_ctx_new(const struct net_runtime_cfg *cfg, const struct net_tls_cert_cfg *cc,
			   struct net_tls_set *set, struct net_tls_cert *tc, struct core_error *err)
{
	ERR_clear_error();
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		net_tls_err(err, "SSL_CTX_new", NULL);
		return CORE_EINTERNAL;
	}
	tc->ctx = ctx;
	int minv = TLS1_2_VERSION;
	if (cfg->tls_min_version != NULL) {
		if (strcmp(cfg->tls_min_version, "TLSv1.3") == 0)
			minv = TLS1_3_VERSION;
		else if (strcmp(cfg->tls_min_version, "TLSv1.2") != 0)
			return core_error_set(err, CORE_ESYNTAX, NULL,
					      "tls_min_version must be TLSv1.2 or TLSv1.3");
	}
	SSL_CTX_set_min_proto_version(ctx, minv);
	/* No renegotiation (client-initiated renegotiation is a DoS lever), no compression
	 * (CRIME), the server's cipher order. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* OpenSSL 3 reports a TCP close without close_notify as an SSL error, which libevent 2.1
	 * does not recognise as its "dirty shutdown"; many mail clients close that way, so read
	 * it as an ordinary end of stream (RFC 8314 §3.4 only says SHOULD send the alert). */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	static const unsigned char sid[] = "staunch";
	SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
	if (cfg->tls_ciphers != NULL && SSL_CTX_set_cipher_list(ctx, cfg->tls_ciphers) != 1) {
		net_tls_err(err, "tls_ciphers", cfg->tls_ciphers);
		return CORE_ESYNTAX;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cc->cert_file) != 1) {
		net_tls_err(err, "certificate", cc->cert_file);
		return CORE_EIO;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cc->key_file, SSL_FILETYPE_PEM) != 1) {
		net_tls_err(err, "private key", cc->key_file);
		return CORE_EIO;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		net_tls_err(err, "key does not match certificate", cc->cert_file);
		return CORE_EIO;
	}
	if (cfg->tls_client_ca != NULL) {
		/* Ask for a client certificate from these CAs; the handshake goes on without
		 * one or with a bad one, and net_tls_client_cert_ssl() reports only a verified
		 * certificate (SASL EXTERNAL, RFC 4422 appendix A). */
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->tls_client_ca);
		if (names == NULL ||
		    SSL_CTX_load_verify_locations(ctx, cfg->tls_client_ca, NULL) != 1) {
			if (names != NULL)
				sk_X509_NAME_pop_free(names, X509_NAME_free);
			net_tls_err(err, "client CA file", cfg->tls_client_ca);
			return CORE_EIO;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, net_tls_verify_accept);
		SSL_CTX_set_verify_depth(ctx, 8);
	}
	SSL_CTX_set_tlsext_servername_callback(ctx, net_tls_sni_cb);
	SSL_CTX_set_tlsext_servername_arg(ctx, set);
	X509 *x = SSL_CTX_get0_certificate(ctx);
	if (x != NULL)
		net_tls_names_collect(tc, x);
	return 0;
}

struct net_tls_set *net_tls_set_load(const struct net_runtime_cfg *cfg, struct core_error *err)
{
	if (cfg->ncerts == 0) {
		core_error_set(err, CORE_ENOTFOUND, NULL, "no TLS certificate configured");
		return NULL;
	}
	struct net_tls_set *set = core_xcalloc(1, sizeof(*set));
	atomic_init(&set->refs, 1);
	set->certs = core_xcalloc(cfg->ncerts, sizeof(*set->certs));
	for (size_t i = 0; i < cfg->ncerts; i++) {
		set->ncerts = i + 1;
		if (net_tls_ctx_new(cfg, &cfg->certs[i], set, &set->certs[i], err) < 0) {
			net_tls_set_unref(set);
			ERR_clear_error();
			return NULL;
		}
	}
	return set;
}

struct net_tls_set *net_tls_current(struct net_runtime *rt)
{
	pthread_mutex_lock(&rt->tls_mu);
	struct net_tls_set *set = rt->tls;
	if (set != NULL)
		atomic_fetch_add(&set->refs, 1);
	pthread_mutex_unlock(&rt->tls_mu);
	return set;
}

SSL *net_tls_ssl_new(struct net_tls_set *set)
{
	if (set == NULL || set->ncerts == 0)
		return NULL;
	ERR_clear_error();
	return SSL_new(set->certs[0].ctx);
}

void net_tls_info_fill(struct net_conn *c, SSL *ssl)
{
	c->info.tls = true;
	c->info.tls_version = SSL_get_version(ssl);
	c->info.tls_cipher = SSL_get_cipher_name(ssl);
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	free(c->sni);
	c->sni = sni ? core_xstrdup(sni) : NULL;
	c->info.tls_sni = c->sni;
}

int net_runtime_tls_reload(struct net_runtime *rt, struct core_error *err)
{
	if (rt->tls_cfg.ncerts == 0)
		return core_error_set(err, CORE_ENOTFOUND, NULL, "no TLS certificate configured");
	struct net_tls_set *set = net_tls_set_load(&rt->tls_cfg, err);
	if (set == NULL) {
		core_log(CORE_LOG_ERROR, "net.tls.reload", "msg", err ? err->msg : "failed", NULL);
		return err && err->code < 0 ? err->code : CORE_EIO;
	}
	pthread_mutex_lock(&rt->tls_mu);
	struct net_tls_set *old = rt->tls;
	rt->tls = set;
	pthread_mutex_unlock(&rt->tls_mu);
	net_tls_set_unref(old);
	core_logf(CORE_LOG_INFO, "net.tls.reload", "%zu certificates loaded", set->ncerts);
	return 0;
}

/* --- self-signed certificate --- */

static bool net_file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* Write PEM output of fn to path atomically with mode 0600. */
static int net_pem_write_atomic(const char *path, int (*fn)(FILE *f, void *obj), void *obj,
				struct core_error *err)
{
	char *tmp = core_xasprintf("%s.tmpXXXXXX", path);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		int e = errno;
		free(tmp);
		return core_error_set(err, CORE_EIO, NULL, "cannot create %s: %s", path,
				      strerror(e));
	}
	int rc = 0;
	FILE *f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		rc = core_error_set(err, CORE_EIO, NULL, "fdopen: %s", strerror(errno));
		goto out;
	}
	fchmod(fd, 0600);
	if (fn(f, obj) != 1) {
		fclose(f);
		net_tls_err(err, "PEM write", path);
		rc = CORE_EIO;
		goto out;
	}
	if (fflush(f) != 0 || fsync(fd) != 0) {
		fclose(f);
		rc = core_error_set(err, CORE_EIO, NULL, "write %s: %s", path, strerror(errno));
		goto out;
	}
	if (fclose(f) != 0) {
		rc = core_error_set(err, CORE_EIO, NULL, "write %s: %s", path, strerror(errno));
		goto out;
	}
	if (rename(tmp, path) != 0) {
		rc = core_error_set(err, CORE_EIO, NULL, "rename %s: %s", path, strerror(errno));
		goto out;
	}
	free(tmp);
	return 0;
out:
	unlink(tmp);
	free(tmp);
	return rc;
}

static int net_pem_key_cb(FILE *f, void *obj)
{
	return PEM_write_PrivateKey(f, obj, NULL, NULL, 0, NULL, NULL);
}

static int net_pem_cert_cb(FILE *f, void *obj)
{
	return PEM_write_X509(f, obj);
}

static int net_x509_ext_add(X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (ext == NULL)
		return -1;
	int ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -1;
}

int net_tls_selfsigned_ensure(const char *cert_file, const char *key_file, const char *hostname,
			      struct core_error *err)
{
	if (net_file_exists(cert_file) && net_file_exists(key_file))
		return 0;
	char hostbuf[256];
	if (hostname == NULL || hostname[0] == '\0') {
		if (gethostname(hostbuf, sizeof(hostbuf)) != 0)
			snprintf(hostbuf, sizeof(hostbuf), "localhost");
		hostbuf[sizeof(hostbuf) - 1] = '\0';
		hostname = hostbuf;
	}
	/* The name goes into an extension string: refuse separators and odd bytes. */
	for (const char *p = hostname; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
			return core_error_set(err, CORE_ESYNTAX, NULL,
					      "bad host name for certificate");
	}
	ERR_clear_error();
	int rc = CORE_EINTERNAL;
	X509 *x = NULL;
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (key == NULL) {
		net_tls_err(err, "key generation", NULL);
		goto out;
	}
	x = X509_new();
	if (x == NULL)
		goto fail;
	/* X.509 v3 (version field 2). */
	X509_set_version(x, 2);
	unsigned char serial[16];
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f; /* RFC 5280 §4.1.2.2: a positive integer */
	BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL) {
		BN_free(bn);
		goto fail;
	}
	BN_free(bn);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600);
	X509_set_pubkey(x, key);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)hostname, -1,
				   -1, 0);
	X509_set_issuer_name(x, name);
	char *san = core_xasprintf("DNS:%s,DNS:localhost,IP:127.0.0.1,IP:::1", hostname);
	int e = net_x509_ext_add(x, NID_subject_alt_name, san);
	free(san);
	if (e < 0 || net_x509_ext_add(x, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    net_x509_ext_add(x, NID_key_usage, "critical,digitalSignature") < 0 ||
	    net_x509_ext_add(x, NID_ext_key_usage, "serverAuth") < 0 ||
	    net_x509_ext_add(x, NID_subject_key_identifier, "hash") < 0)
		goto fail;
	if (X509_sign(x, key, EVP_sha256()) <= 0)
		goto fail;
	/* Key first: a certificate without its key would be useless on the next start. */
	rc = net_pem_write_atomic(key_file, net_pem_key_cb, key, err);
	if (rc == 0)
		rc = net_pem_write_atomic(cert_file, net_pem_cert_cb, x, err);
	if (rc == 0)
		core_log(CORE_LOG_NOTICE, "net.tls.selfsigned", "cert", cert_file, "host", hostname,
			 NULL);
	goto out;
fail:
	net_tls_err(err, "self-signed certificate", NULL);
	rc = CORE_EINTERNAL;
out:
	X509_free(x);
	EVP_PKEY_free(key);
	ERR_clear_error();
	return rc;
}
