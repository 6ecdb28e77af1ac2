/*
 * net_tls_cb.c: what a TLS connection tells the authentication layer (docs/authentication.md):
 * the channel bindings tls-exporter (RFC 9266) and tls-server-end-point (RFC 5929 §4), and
 * the client certificate verified against tls.client-ca (for SASL EXTERNAL, RFC 4422
 * appendix A). The values fill struct sasl_conn_info (src/directory/sasl.h).
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <string.h>

#include "core/core.h"
#include "net/net_int.h"

/* RFC 9266 §2: the label, no context, 32 bytes. The binding is defined only when the master
 * secret is unique, which TLS 1.3 guarantees and TLS 1.2 only with extended master secret;
 * Staunch offers it on TLS 1.3 alone (§3 makes it the TLS 1.3 default). */
static const char net_cb_label[] = "EXPORTER-Channel-Binding";

int net_tls_exporter_ssl(SSL *ssl, unsigned char out[NET_TLS_EXPORTER_LEN])
{
	if (ssl == NULL || !SSL_is_init_finished(ssl))
		return CORE_ENOTFOUND;
	if (SSL_version(ssl) != TLS1_3_VERSION)
		return CORE_EPERM;
	ERR_clear_error();
	if (SSL_export_keying_material(ssl, out, NET_TLS_EXPORTER_LEN, net_cb_label,
				       sizeof(net_cb_label) - 1, NULL, 0, 0) != 1) {
		ERR_clear_error();
		return CORE_EINTERNAL;
	}
	return 0;
}

int net_tls_end_point_hash(X509 *cert, unsigned char out[NET_TLS_END_POINT_MAX], size_t *len_out)
{
	if (cert == NULL)
		return CORE_ENOTFOUND;
	int md_nid = NID_undef, pk_nid = NID_undef;
	uint32_t flags = 0;
	if (X509_get_signature_info(cert, &md_nid, &pk_nid, NULL, &flags) != 1)
		return CORE_ENOTFOUND;
	/* RFC 5929 §4.1: the hash of the certificate's signature algorithm, except that MD5
	 * and SHA-1 become SHA-256; with no single hash function (Ed25519, RSA-PSS without
	 * one) the binding is undefined. */
	if (md_nid == NID_md5 || md_nid == NID_sha1)
		md_nid = NID_sha256;
	if (md_nid == NID_undef)
		return CORE_ENOTFOUND;
	const EVP_MD *md = EVP_get_digestbynid(md_nid);
	if (md == NULL || EVP_MD_get_size(md) > NET_TLS_END_POINT_MAX)
		return CORE_ENOTFOUND;
	unsigned n = 0;
	if (X509_digest(cert, md, out, &n) != 1)
		return CORE_EINTERNAL;
	*len_out = n;
	return 0;
}

int net_tls_end_point_ssl(SSL *ssl, unsigned char out[NET_TLS_END_POINT_MAX], size_t *len_out)
{
	if (ssl == NULL || !SSL_is_init_finished(ssl))
		return CORE_ENOTFOUND;
	/* Our own certificate: the one SNI chose for this connection. */
	return net_tls_end_point_hash(SSL_get_certificate(ssl), out, len_out);
}

int net_tls_client_cert_ssl(SSL *ssl, struct core_buf *der_out)
{
	if (ssl == NULL || !SSL_is_init_finished(ssl))
		return CORE_ENOTFOUND;
	X509 *x = SSL_get0_peer_certificate(ssl);
	if (x == NULL)
		return CORE_ENOTFOUND;
	/* The handshake accepts any certificate (the verify callback lets it through), so the
	 * chain's result decides here. */
	if (SSL_get_verify_result(ssl) != X509_V_OK)
		return CORE_EPERM;
	int n = i2d_X509(x, NULL);
	if (n <= 0)
		return CORE_EINTERNAL;
	core_buf_reserve(der_out, (size_t)n);
	unsigned char *p = (unsigned char *)der_out->p + der_out->len;
	if (i2d_X509(x, &p) != n)
		return CORE_EINTERNAL;
	der_out->len += (size_t)n;
	return 0;
}

int net_conn_tls_exporter(struct net_conn *c, unsigned char out[NET_TLS_EXPORTER_LEN])
{
	return net_tls_exporter_ssl(c->info.tls ? c->ssl : NULL, out);
}

int net_conn_tls_server_end_point(struct net_conn *c, unsigned char out[NET_TLS_END_POINT_MAX],
				  size_t *len_out)
{
	return net_tls_end_point_ssl(c->info.tls ? c->ssl : NULL, out, len_out);
}

int net_conn_tls_client_cert(struct net_conn *c, struct core_buf *der_out)
{
	return net_tls_client_cert_ssl(c->info.tls ? c->ssl : NULL, der_out);
}
