/*
 * net_proxy.c: parser of the PROXY protocol header (HAProxy "PROXY protocol" specification,
 * versions 1 and 2). A pure function over bytes: no sockets, no globals, so it is unit-tested
 * and fuzzed (fuzz/fuzz_net_proxy.c). The runtime (net_conn.c) calls it on the first bytes of
 * a connection accepted on a listener with proxy_protocol set, from a trusted source only.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "net/net.h"

/* PROXY v1 §2.1: the longest header is 107 bytes including the CRLF. */
#define NET_PROXY_V1_MAX 107

/* PROXY v2 §2.2: the 12-byte signature that opens a binary header. */
static const unsigned char net_proxy_v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
						   0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

static void net_proxy_hdr_reset(struct net_proxy_hdr *out)
{
	memset(out, 0, sizeof(*out));
}

/* Parse a decimal port of 1 to 5 digits without a sign; v1 §2.1: 0..65535. */
static int net_proxy_port_parse(const char *s, size_t len, uint16_t *out)
{
	if (len == 0 || len > 5)
		return CORE_ESYNTAX;
	/* v1 §2.1: ports are written without leading zeros (except "0" itself). */
	if (len > 1 && s[0] == '0')
		return CORE_ESYNTAX;
	unsigned v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return CORE_ESYNTAX;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return CORE_ESYNTAX;
	*out = (uint16_t)v;
	return 0;
}

/* Parse one textual address of family af into out (normalised by inet_ntop). */
static int net_proxy_addr_parse(int af, const char *s, size_t len, char *out, size_t outsz)
{
	char tmp[64];
	unsigned char bin[16];
	if (len == 0 || len >= sizeof(tmp))
		return CORE_ESYNTAX;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (inet_pton(af, tmp, bin) != 1)
		return CORE_ESYNTAX;
	if (inet_ntop(af, bin, out, (socklen_t)outsz) == NULL)
		return CORE_ESYNTAX;
	return 0;
}

/*
 * v1 §2.1: "PROXY" SP ("TCP4" | "TCP6" | "UNKNOWN") SP src SP dst SP sport SP dport CRLF,
 * single spaces, at most 107 bytes. With UNKNOWN the rest of the line is ignored.
 */
static int net_proxy_v1_parse(const unsigned char *p, size_t len, struct net_proxy_hdr *out)
{
	static const char prefix[] = "PROXY ";
	size_t plen = sizeof(prefix) - 1;
	size_t cmp = len < plen ? len : plen;
	if (memcmp(p, prefix, cmp) != 0)
		return CORE_ESYNTAX;
	/* Look for the CRLF within the first 107 bytes. */
	size_t lim = len < NET_PROXY_V1_MAX ? len : NET_PROXY_V1_MAX;
	size_t end = 0;
	bool found = false;
	for (size_t i = 0; i < lim; i++) {
		if (p[i] == '\r') {
			if (i + 1 >= len)
				return CORE_MORE;
			if (p[i + 1] != '\n' || i + 2 > NET_PROXY_V1_MAX)
				return CORE_ESYNTAX;
			end = i;
			found = true;
			break;
		}
		/* A bare LF, a NUL or another control byte is not part of the grammar. */
		if (p[i] < 0x20 || p[i] > 0x7e)
			return CORE_ESYNTAX;
	}
	if (!found)
		return len >= NET_PROXY_V1_MAX ? CORE_ESYNTAX : CORE_MORE;
	if (end < plen)
		return CORE_ESYNTAX;

	/* Split the line after "PROXY " into space-separated fields. */
	const char *line = (const char *)p + plen;
	size_t llen = end - plen;
	const char *f[6];
	size_t fl[6];
	size_t nf = 0;
	size_t start = 0;
	for (size_t i = 0; i <= llen; i++) {
		if (i == llen || line[i] == ' ') {
			if (nf == 6)
				return CORE_ESYNTAX;
			f[nf] = line + start;
			fl[nf] = i - start;
			nf++;
			start = i + 1;
			/* UNKNOWN: the receiver ignores everything after the protocol. */
			if (nf == 1 && fl[0] == 7 && memcmp(f[0], "UNKNOWN", 7) == 0)
				break;
		}
	}
	net_proxy_hdr_reset(out);
	if (fl[0] == 7 && memcmp(f[0], "UNKNOWN", 7) == 0) {
		out->local = true;
		return (int)(end + 2);
	}
	int af;
	if (fl[0] == 4 && memcmp(f[0], "TCP4", 4) == 0)
		af = AF_INET;
	else if (fl[0] == 4 && memcmp(f[0], "TCP6", 4) == 0)
		af = AF_INET6;
	else
		return CORE_ESYNTAX;
	if (nf != 5)
		return CORE_ESYNTAX;
	if (net_proxy_addr_parse(af, f[1], fl[1], out->src_ip, sizeof(out->src_ip)) < 0 ||
	    net_proxy_addr_parse(af, f[2], fl[2], out->dst_ip, sizeof(out->dst_ip)) < 0 ||
	    net_proxy_port_parse(f[3], fl[3], &out->src_port) < 0 ||
	    net_proxy_port_parse(f[4], fl[4], &out->dst_port) < 0) {
		net_proxy_hdr_reset(out);
		return CORE_ESYNTAX;
	}
	return (int)(end + 2);
}

static uint16_t net_proxy_be16(const unsigned char *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

/*
 * v2 §2.2: signature (12), version/command (1), family/transport (1), length (2, network
 * order), then length bytes: the addresses of the family followed by optional TLVs (ignored).
 */
static int net_proxy_v2_parse(const unsigned char *p, size_t len, struct net_proxy_hdr *out)
{
	size_t cmp = len < sizeof(net_proxy_v2_sig) ? len : sizeof(net_proxy_v2_sig);
	if (memcmp(p, net_proxy_v2_sig, cmp) != 0)
		return CORE_ESYNTAX;
	if (len < 13)
		return CORE_MORE;
	/* v2 §2.2: the high nibble is the version and must be 2; commands are LOCAL and PROXY. */
	unsigned ver = p[12] >> 4, cmd = p[12] & 0x0f;
	if (ver != 2 || cmd > 1)
		return CORE_ESYNTAX;
	if (len < 16)
		return CORE_MORE;
	unsigned fam = p[13] >> 4, proto = p[13] & 0x0f;
	/* Families: UNSPEC, INET, INET6, UNIX; transports: UNSPEC, STREAM, DGRAM. */
	if (fam > 3 || proto > 2)
		return CORE_ESYNTAX;
	size_t body = net_proxy_be16(p + 14);
	size_t total = 16 + body;
	if (len < total)
		return CORE_MORE;
	net_proxy_hdr_reset(out);
	const unsigned char *a = p + 16;
	size_t need = fam == 1 ? 12 : fam == 2 ? 36 : fam == 3 ? 216 : 0;
	/* v2 §2.2: the length must cover at least the address block of the family. */
	if (body < need)
		return CORE_ESYNTAX;
	/* v2 §2.2: LOCAL (health checks) keeps the real addresses; so do UNSPEC family, UNIX
	 * sockets and datagram transports, which a TCP listener cannot use. */
	if (cmd == 0 || fam == 0 || fam == 3 || proto != 1) {
		out->local = true;
		return (int)total;
	}
	int af = fam == 1 ? AF_INET : AF_INET6;
	size_t alen = fam == 1 ? 4 : 16;
	if (inet_ntop(af, a, out->src_ip, sizeof(out->src_ip)) == NULL ||
	    inet_ntop(af, a + alen, out->dst_ip, sizeof(out->dst_ip)) == NULL) {
		net_proxy_hdr_reset(out);
		return CORE_ESYNTAX;
	}
	out->src_port = net_proxy_be16(a + 2 * alen);
	out->dst_port = net_proxy_be16(a + 2 * alen + 2);
	return (int)total;
}

int net_proxy_parse(const unsigned char *p, size_t len, struct net_proxy_hdr *out)
{
	if (p == NULL || out == NULL)
		return CORE_ESYNTAX;
	if (len == 0)
		return CORE_MORE;
	/* The first byte tells the version: 'P' for the text form, CR for the binary one. */
	if (p[0] == 'P')
		return net_proxy_v1_parse(p, len, out);
	if (p[0] == 0x0D)
		return net_proxy_v2_parse(p, len, out);
	return CORE_ESYNTAX;
}
