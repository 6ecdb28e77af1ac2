/*
 * dir_dns.c: the DNS records a mail domain needs, in zone-file form, and DKIM key
 * generation (docs/dns.md). Record generation is pure: every input comes in as arguments,
 * the certificate as PEM text, and nothing is looked up.
 */
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string.h>

#include "directory/dir_int.h"

/* A host name we are willing to print into a zone: LDH labels and dots, 1..253 octets. */
static bool valid_host(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;
	if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-')
		return false;
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!(core_ascii_isalpha(c) || core_ascii_isdigit(c) || c == '-' || c == '_'))
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

static bool valid_selector(const char *s)
{
	return valid_host(s) && strlen(s) <= 63;
}

/* Absolute name: "example.org" -> "example.org." */
static void name(struct core_buf *out, const char *prefix, const char *host)
{
	if (prefix != NULL)
		core_buf_printf(out, "%s.", prefix);
	core_buf_printf(out, "%s", host);
	if (host[strlen(host) - 1] != '.')
		core_buf_putc(out, '.');
}

static void rr(struct core_buf *out, const char *prefix, const char *host, uint32_t ttl,
	       const char *type)
{
	name(out, prefix, host);
	core_buf_printf(out, " %u IN %s ", ttl, type);
}

/* RFC 1035 §3.3.14: TXT data is character-strings of at most 255 octets each. */
static void txt(struct core_buf *out, const char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i < n || i == 0; i += 255) {
		size_t k = n - i < 255 ? n - i : 255;
		if (i > 0)
			core_buf_putc(out, ' ');
		core_buf_putc(out, '"');
		for (size_t j = 0; j < k; j++) {
			if (s[i + j] == '"' || s[i + j] == '\\')
				core_buf_putc(out, '\\');
			core_buf_putc(out, s[i + j]);
		}
		core_buf_putc(out, '"');
		if (n == 0)
			break;
	}
	core_buf_putc(out, '\n');
}

static void digest_hex(struct core_buf *out, const EVP_MD *md, const unsigned char *p, size_t n)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;
	EVP_Digest(p, n, d, &dl, md, NULL);
	struct core_buf h = CORE_BUF_INIT;
	core_hex_encode(&h, d, dl);
	for (size_t i = 0; i < h.len; i++)
		core_buf_putc(out, core_ascii_upper(h.p[i]));
	core_buf_fini(&h);
}

/*
 * RFC 6698 §2.1: usage (3 DANE-EE for the leaf, 2 DANE-TA for its issuer), selector (0 full
 * certificate, 1 SubjectPublicKeyInfo), matching type (1 SHA-256, 2 SHA-512); RFC 7671 §5
 * recommends 3 1 1 and "2 1 1" with the issuer for rollover safety; all are printed.
 */
static int tlsa(struct core_buf *out, X509 *x, unsigned usage, const char *host, uint32_t ttl)
{
	unsigned char *cert = NULL, *spki = NULL;
	int cl = i2d_X509(x, &cert);
	int sl = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);
	if (cl <= 0 || sl <= 0) {
		OPENSSL_free(cert);
		OPENSSL_free(spki);
		return CORE_ESYNTAX;
	}
	for (unsigned sel = 0; sel <= 1; sel++)
		for (unsigned mt = 1; mt <= 2; mt++) {
			rr(out, "_25._tcp", host, ttl, "TLSA");
			core_buf_printf(out, "%u %u %u ", usage, sel, mt);
			digest_hex(out, mt == 1 ? EVP_sha256() : EVP_sha512(), sel ? spki : cert,
				   (size_t)(sel ? sl : cl));
			core_buf_putc(out, '\n');
		}
	OPENSSL_free(cert);
	OPENSSL_free(spki);
	return 0;
}

static uint64_t max_age(const struct dir_dns_input *in)
{
	return in->mta_sts_max_age ? in->mta_sts_max_age : 604800;
}

void dir_dns_mta_sts_policy(const struct dir_dns_input *in, struct core_buf *out)
{
	/* RFC 8461 §3.2: key/value lines, CRLF or LF; "mode: enforce" once TLS works. */
	core_buf_printf(out, "version: STSv1\r\nmode: enforce\r\nmx: %s\r\nmax_age: %llu\r\n",
			in->hostname, (unsigned long long)max_age(in));
}

void dir_dns_mta_sts_id(const struct dir_dns_input *in, char id_out[21])
{
	struct core_buf pol = CORE_BUF_INIT, h = CORE_BUF_INIT;
	dir_dns_mta_sts_policy(in, &pol);
	unsigned char d[32];
	unsigned int dl = 0;
	EVP_Digest(pol.p, pol.len, d, &dl, EVP_sha256(), NULL);
	core_hex_encode(&h, d, 10);
	memcpy(id_out, h.p, 20);
	id_out[20] = '\0';
	core_buf_fini(&pol);
	core_buf_fini(&h);
}

static bool valid_b64(const char *s)
{
	if (s == NULL || s[0] == '\0')
		return false;
	for (; *s; s++)
		if (!(core_ascii_isalpha(*s) || core_ascii_isdigit(*s) || *s == '+' || *s == '/' ||
		      *s == '='))
			return false;
	return true;
}

int dir_dns_records(const struct dir_dns_input *in, struct core_buf *out, struct core_error *err)
{
	if (!valid_host(in->domain))
		return core_error_set(err, CORE_ESYNTAX, NULL, "bad domain name");
	if (!valid_host(in->hostname))
		return core_error_set(err, CORE_ESYNTAX, NULL, "bad host name");
	for (size_t i = 0; i < in->n_dkim; i++)
		if (!valid_selector(in->dkim[i].selector) || !valid_b64(in->dkim[i].p))
			return core_error_set(err, CORE_ESYNTAX, NULL, "bad DKIM selector or key");
	const char *dom = in->domain, *host = in->hostname;
	uint32_t ttl = in->ttl ? in->ttl : 3600;
	const char *policy = in->dmarc_policy ? in->dmarc_policy : "reject";
	if (strcmp(policy, "none") != 0 && strcmp(policy, "quarantine") != 0 &&
	    strcmp(policy, "reject") != 0)
		return core_error_set(err, CORE_ESYNTAX, "RFC 7489 §6.3", "bad DMARC policy");
	struct core_buf rep = CORE_BUF_INIT;
	if (in->report_to != NULL)
		core_buf_append_str(&rep, in->report_to);
	else
		core_buf_printf(&rep, "postmaster@%s", dom);
	for (size_t i = 0; i < rep.len; i++)
		if ((unsigned char)rep.p[i] <= 0x20 || rep.p[i] == ';' || rep.p[i] == '"' ||
		    rep.p[i] == ',' || rep.p[i] == '!') {
			core_buf_fini(&rep);
			return core_error_set(err, CORE_ESYNTAX, NULL, "bad report address");
		}

	/* Parse the certificate chain first, so a bad one prints nothing. */
	X509 *chain[2] = {NULL, NULL};
	if (in->cert_pem != NULL && in->cert_pem_len > INT_MAX) {
		core_buf_fini(&rep);
		return core_error_set(err, CORE_ELIMIT, NULL, "certificate too large");
	}
	if (in->cert_pem != NULL) {
		BIO *b = BIO_new_mem_buf(in->cert_pem, (int)in->cert_pem_len);
		chain[0] = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
		if (chain[0] != NULL)
			chain[1] = PEM_read_bio_X509(b, NULL, NULL, NULL);
		BIO_free(b);
		ERR_clear_error();
		if (chain[0] == NULL) {
			core_buf_fini(&rep);
			return core_error_set(err, CORE_ESYNTAX, NULL, "no certificate in the PEM");
		}
	}
	size_t start = out->len;
	struct core_buf t = CORE_BUF_INIT;

	core_buf_printf(out, "; Mail records for %s (server %s)\n", dom, host);
	core_buf_printf(out, "; RFC 5321 §5.1: where mail for the domain goes\n");
	rr(out, NULL, dom, ttl, "MX");
	core_buf_printf(out, "10 ");
	name(out, NULL, host);
	core_buf_putc(out, '\n');

	for (size_t i = 0; i < in->n_dkim; i++) {
		const struct dir_dkim_pub *k = &in->dkim[i];
		core_buf_printf(out, "; RFC 6376 §3.6.1%s: DKIM key %s\n",
				k->alg == DIR_DKIM_ED25519 ? ", RFC 8463" : "", k->selector);
		char sel[80];
		snprintf(sel, sizeof(sel), "%s._domainkey", k->selector);
		rr(out, sel, dom, ttl, "TXT");
		core_buf_reset(&t);
		core_buf_printf(&t, "v=DKIM1; k=%s; p=%s",
				k->alg == DIR_DKIM_ED25519 ? "ed25519" : "rsa", k->p);
		txt(out, core_buf_cstr(&t));
	}

	core_buf_printf(out, "; RFC 7208: SPF for the server's own name (HELO) and the domain\n");
	rr(out, NULL, host, ttl, "TXT");
	txt(out, "v=spf1 a -all");
	rr(out, NULL, dom, ttl, "TXT");
	txt(out, "v=spf1 mx -all");

	core_buf_printf(out, "; RFC 7489 §6.3: DMARC policy\n");
	rr(out, "_dmarc", dom, ttl, "TXT");
	core_buf_reset(&t);
	core_buf_printf(&t, "v=DMARC1; p=%s; rua=mailto:%s", policy, core_buf_cstr(&rep));
	txt(out, core_buf_cstr(&t));

	char id[21];
	dir_dns_mta_sts_id(in, id);
	core_buf_printf(out,
			"; RFC 8461 §3: MTA-STS (policy served at "
			"https://mta-sts.%s/.well-known/mta-sts.txt)\n",
			dom);
	rr(out, "mta-sts", dom, ttl, "CNAME");
	name(out, NULL, host);
	core_buf_putc(out, '\n');
	rr(out, "_mta-sts", dom, ttl, "TXT");
	core_buf_reset(&t);
	core_buf_printf(&t, "v=STSv1; id=%s", id);
	txt(out, core_buf_cstr(&t));

	core_buf_printf(out, "; RFC 8460 §3: TLS reporting\n");
	rr(out, "_smtp._tls", dom, ttl, "TXT");
	core_buf_reset(&t);
	core_buf_printf(&t, "v=TLSRPTv1; rua=mailto:%s", core_buf_cstr(&rep));
	txt(out, core_buf_cstr(&t));

	/* RFC 6186 §3; RFC 8314 §5.1: implicit TLS gets the lower (preferred) priority. */
	static const struct {
		const char *svc;
		unsigned prio, port;
		bool pop3;
		const char *rule;
	} srv[] = {
		{"_submissions._tcp", 0, 465, false, "RFC 8314 §5.1"},
		{"_submission._tcp", 10, 587, false, "RFC 6186 §3.1"},
		{"_imaps._tcp", 0, 993, false, "RFC 6186 §3.2"},
		{"_imap._tcp", 10, 143, false, "RFC 6186 §3.2"},
		{"_pop3s._tcp", 0, 995, true, "RFC 6186 §3.3"},
		{"_pop3._tcp", 10, 110, true, "RFC 6186 §3.3"},
		{"_jmap._tcp", 0, 443, false, "RFC 8620 §2.2"},
	};
	core_buf_printf(out, "; Service discovery for clients\n");
	for (size_t i = 0; i < CORE_NELEM(srv); i++) {
		if (srv[i].pop3 && !in->pop3)
			continue;
		core_buf_printf(out, "; %s\n", srv[i].rule);
		rr(out, srv[i].svc, dom, ttl, "SRV");
		core_buf_printf(out, "%u 1 %u ", srv[i].prio, srv[i].port);
		name(out, NULL, host);
		core_buf_putc(out, '\n');
	}
	core_buf_printf(out, "; Client auto-configuration (Thunderbird autoconfig, Outlook "
			     "autodiscover)\n");
	rr(out, "autoconfig", dom, ttl, "CNAME");
	name(out, NULL, host);
	core_buf_putc(out, '\n');
	rr(out, "autodiscover", dom, ttl, "CNAME");
	name(out, NULL, host);
	core_buf_putc(out, '\n');

	int r = 0;
	if (chain[0] != NULL) {
		core_buf_printf(out, "; RFC 6698, RFC 7672: DANE for SMTP on port 25 (publish in a "
				     "DNSSEC-signed zone)\n");
		r = tlsa(out, chain[0], 3, host, ttl);
		if (r == 0 && chain[1] != NULL)
			r = tlsa(out, chain[1], 2, host, ttl);
	}
	X509_free(chain[0]);
	X509_free(chain[1]);
	core_buf_fini(&t);
	core_buf_fini(&rep);
	if (r < 0) {
		core_buf_truncate(out, start);
		return core_error_set(err, CORE_ESYNTAX, NULL, "certificate cannot be encoded");
	}
	return 0;
}

/* ------------------------------------------------------------------------------------ */
/* DKIM keys                                                                            */
/* ------------------------------------------------------------------------------------ */

static int public_value(EVP_PKEY *k, enum dir_dkim_alg *alg_out, struct core_buf *p_out,
			struct core_error *err)
{
	int id = EVP_PKEY_get_base_id(k);
	if (id == EVP_PKEY_ED25519) {
		/* RFC 8463 §4.2: p= is the base64 of the 32-octet public key itself. */
		unsigned char raw[32];
		size_t n = sizeof(raw);
		if (EVP_PKEY_get_raw_public_key(k, raw, &n) != 1 || n != 32)
			return core_error_set(err, CORE_EINTERNAL, NULL, "ed25519 public key");
		core_base64_encode(p_out, raw, n);
		*alg_out = DIR_DKIM_ED25519;
		return 0;
	}
	if (id == EVP_PKEY_RSA) {
		/* RFC 6376 §3.6.1: p= is the base64 of the DER SubjectPublicKeyInfo. */
		unsigned char *der = NULL;
		int n = i2d_PUBKEY(k, &der);
		if (n <= 0)
			return core_error_set(err, CORE_EINTERNAL, NULL, "RSA public key");
		core_base64_encode(p_out, der, (size_t)n);
		OPENSSL_free(der);
		*alg_out = DIR_DKIM_RSA;
		return 0;
	}
	return core_error_set(err, CORE_ESYNTAX, NULL, "not an Ed25519 or RSA key");
}

int dir_dkim_keygen(enum dir_dkim_alg alg, struct core_buf *priv_pem_out, struct core_buf *p_out,
		    struct core_error *err)
{
	EVP_PKEY *k = alg == DIR_DKIM_ED25519 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
					      : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (k == NULL) {
		ERR_clear_error();
		return core_error_set(err, CORE_EINTERNAL, NULL, "key generation failed");
	}
	BIO *b = BIO_new(BIO_s_mem());
	int r = 0;
	if (b == NULL || PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1) {
		r = core_error_set(err, CORE_EINTERNAL, NULL, "key encoding failed");
	} else {
		char *p;
		long n = BIO_get_mem_data(b, &p);
		core_buf_append(priv_pem_out, p, (size_t)n);
		enum dir_dkim_alg got;
		r = public_value(k, &got, p_out, err);
	}
	BIO_free(b); /* the memory BIO is cleared on free */
	EVP_PKEY_free(k);
	ERR_clear_error();
	return r;
}

int dir_dkim_public(const char *priv_pem, size_t len, enum dir_dkim_alg *alg_out,
		    struct core_buf *p_out, struct core_error *err)
{
	if (len > INT_MAX)
		return core_error_set(err, CORE_ELIMIT, NULL, "key too large");
	BIO *b = BIO_new_mem_buf(priv_pem, (int)len);
	EVP_PKEY *k = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	ERR_clear_error();
	if (k == NULL)
		return core_error_set(err, CORE_ESYNTAX, NULL, "not a private key in PEM");
	int r = public_value(k, alg_out, p_out, err);
	EVP_PKEY_free(k);
	return r;
}
