/*
 * test_proxy.c: the PROXY protocol v1/v2 parser (src/net/net_proxy.c): valid headers,
 * truncated and malformed ones, and the trickle property (byte-at-a-time gives the same
 * result as all-at-once).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "net/net.h"

struct proxy_case {
	const char *name;
	const unsigned char *p;
	size_t len;
	int want; /* bytes used, CORE_MORE or CORE_ESYNTAX */
	bool local;
	const char *src, *dst;
	uint16_t sport, dport;
};

#define V1(s) (const unsigned char *)(s), sizeof(s) - 1

static const unsigned char v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
					 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* Build a v2 header: signature, ver/cmd, fam/proto, body. Returns its length. */
static size_t v2_build(unsigned char *out, unsigned char vercmd, unsigned char famproto,
		       const unsigned char *body, size_t blen)
{
	memcpy(out, v2_sig, 12);
	out[12] = vercmd;
	out[13] = famproto;
	out[14] = (unsigned char)(blen >> 8);
	out[15] = (unsigned char)(blen & 0xff);
	if (blen > 0)
		memcpy(out + 16, body, blen);
	return 16 + blen;
}

static void check_case(const struct proxy_case *c)
{
	struct net_proxy_hdr h;
	memset(&h, 0xAA, sizeof(h));
	int r = net_proxy_parse(c->p, c->len, &h);
	ck_assert_msg(r == c->want, "%s: got %d want %d", c->name, r, c->want);
	if (r > 0) {
		ck_assert_msg(h.local == c->local, "%s: local", c->name);
		if (!c->local) {
			ck_assert_str_eq(h.src_ip, c->src);
			ck_assert_str_eq(h.dst_ip, c->dst);
			ck_assert_uint_eq(h.src_port, c->sport);
			ck_assert_uint_eq(h.dst_port, c->dport);
		}
	}
}

static const struct proxy_case v1_cases[] = {
	{"tcp4", V1("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"), 45, false, "192.0.2.1",
	 "198.51.100.2", 56324, 443},
	{"tcp6", V1("PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n"), 44, false, "2001:db8::1",
	 "2001:db8::2", 1, 65535},
	{"tcp4 trailing data", V1("PROXY TCP4 10.0.0.1 10.0.0.2 1000 25\r\nEHLO x\r\n"), 38, false,
	 "10.0.0.1", "10.0.0.2", 1000, 25},
	{"unknown", V1("PROXY UNKNOWN\r\n"), 15, true, NULL, NULL, 0, 0},
	{"unknown with addrs", V1("PROXY UNKNOWN ffff:f::1 ffff:f::2 1 2\r\n"), 39, true, NULL,
	 NULL, 0, 0},
	{"port zero", V1("PROXY TCP4 1.2.3.4 5.6.7.8 0 0\r\n"), 32, false, "1.2.3.4", "5.6.7.8", 0,
	 0},
	/* truncated: need more */
	{"empty", (const unsigned char *)"", 0, CORE_MORE, false, NULL, NULL, 0, 0},
	{"prefix P", V1("P"), CORE_MORE, false, NULL, NULL, 0, 0},
	{"prefix PROX", V1("PROX"), CORE_MORE, false, NULL, NULL, 0, 0},
	{"no crlf yet", V1("PROXY TCP4 1.2.3.4 5.6.7.8 1 2"), CORE_MORE, false, NULL, NULL, 0, 0},
	{"cr only", V1("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r"), CORE_MORE, false, NULL, NULL, 0, 0},
	/* malformed */
	{"not proxy", V1("EHLO example.com\r\n"), CORE_ESYNTAX, false, NULL, NULL, 0, 0},
	{"lower case", V1("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), CORE_ESYNTAX, false, NULL, NULL, 0,
	 0},
	{"bad proto", V1("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"), CORE_ESYNTAX, false, NULL, NULL, 0,
	 0},
	{"v6 in tcp4", V1("PROXY TCP4 ::1 ::2 1 2\r\n"), CORE_ESYNTAX, false, NULL, NULL, 0, 0},
	{"v4 in tcp6", V1("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n"), CORE_ESYNTAX, false, NULL, NULL, 0,
	 0},
	{"port too big", V1("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"), CORE_ESYNTAX, false, NULL,
	 NULL, 0, 0},
	{"port leading zero", V1("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"), CORE_ESYNTAX, false, NULL,
	 NULL, 0, 0},
	{"port sign", V1("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n"), CORE_ESYNTAX, false, NULL, NULL, 0,
	 0},
	{"missing port", V1("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), CORE_ESYNTAX, false, NULL, NULL, 0,
	 0},
	{"extra field", V1("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"), CORE_ESYNTAX, false, NULL, NULL,
	 0, 0},
	{"double space", V1("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"), CORE_ESYNTAX, false, NULL, NULL,
	 0, 0},
	{"bare lf", V1("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), CORE_ESYNTAX, false, NULL, NULL, 0, 0},
	{"cr not lf", V1("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX"), CORE_ESYNTAX, false, NULL, NULL, 0,
	 0},
	{"nul byte", (const unsigned char *)"PROXY TCP4\0 1.2.3.4", 19, CORE_ESYNTAX, false, NULL,
	 NULL, 0, 0},
	{"bad ip", V1("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n"), CORE_ESYNTAX, false, NULL, NULL, 0,
	 0},
	{"PROXY only", V1("PROXY\r\n"), CORE_ESYNTAX, false, NULL, NULL, 0, 0},
	{"PROXY space", V1("PROXY \r\n"), CORE_ESYNTAX, false, NULL, NULL, 0, 0},
};

START_TEST(test_v1_table)
{
	for (size_t i = 0; i < CORE_NELEM(v1_cases); i++)
		check_case(&v1_cases[i]);
}
END_TEST

START_TEST(test_v1_too_long)
{
	/* v1 §2.1: no CRLF within 107 bytes is an error, not a request for more. */
	char line[200];
	memset(line, 'A', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	struct net_proxy_hdr h;
	ck_assert_int_eq(net_proxy_parse((unsigned char *)line, 106, &h), CORE_MORE);
	ck_assert_int_eq(net_proxy_parse((unsigned char *)line, 107, &h), CORE_ESYNTAX);
	ck_assert_int_eq(net_proxy_parse((unsigned char *)line, sizeof(line), &h), CORE_ESYNTAX);
	/* Exactly 107 bytes with the CRLF at the end is accepted. */
	line[105] = '\r';
	line[106] = '\n';
	ck_assert_int_eq(net_proxy_parse((unsigned char *)line, 107, &h), 107);
	ck_assert(h.local);
}
END_TEST

START_TEST(test_v2_inet)
{
	unsigned char body[12 + 7] = {192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x01, 0xbb,
				      /* a TLV (PP2_TYPE_AUTHORITY "a.b") that is skipped */
				      0x02, 0x00, 0x03, 'a', '.', 'b', 0};
	unsigned char buf[64];
	size_t n = v2_build(buf, 0x21, 0x11, body, 18);
	buf[n] = 'X'; /* first byte of the protocol after the header */
	struct net_proxy_hdr h;
	ck_assert_int_eq(net_proxy_parse(buf, n + 1, &h), (int)n);
	ck_assert(!h.local);
	ck_assert_str_eq(h.src_ip, "192.0.2.1");
	ck_assert_str_eq(h.dst_ip, "198.51.100.2");
	ck_assert_uint_eq(h.src_port, 56324);
	ck_assert_uint_eq(h.dst_port, 443);
	/* Every proper prefix asks for more. */
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(net_proxy_parse(buf, i, &h), CORE_MORE);
}
END_TEST

START_TEST(test_v2_inet6)
{
	unsigned char body[36] = {0};
	body[0] = 0x20, body[1] = 0x01, body[2] = 0x0d, body[3] = 0xb8, body[15] = 1;
	body[16] = 0x20, body[17] = 0x01, body[18] = 0x0d, body[19] = 0xb8, body[31] = 2;
	body[32] = 0x30, body[33] = 0x39; /* 12345 */
	body[34] = 0x00, body[35] = 0x8f; /* 143 */
	unsigned char buf[64];
	size_t n = v2_build(buf, 0x21, 0x21, body, sizeof(body));
	struct net_proxy_hdr h;
	ck_assert_int_eq(net_proxy_parse(buf, n, &h), (int)n);
	ck_assert(!h.local);
	ck_assert_str_eq(h.src_ip, "2001:db8::1");
	ck_assert_str_eq(h.dst_ip, "2001:db8::2");
	ck_assert_uint_eq(h.src_port, 12345);
	ck_assert_uint_eq(h.dst_port, 143);
}
END_TEST

START_TEST(test_v2_local_and_unspec)
{
	unsigned char buf[300];
	struct net_proxy_hdr h;
	/* LOCAL with no body. */
	size_t n = v2_build(buf, 0x20, 0x00, NULL, 0);
	ck_assert_int_eq(net_proxy_parse(buf, n, &h), 16);
	ck_assert(h.local);
	/* LOCAL with an INET block: the addresses are ignored. */
	unsigned char inet[12] = {1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2};
	n = v2_build(buf, 0x20, 0x11, inet, sizeof(inet));
	ck_assert_int_eq(net_proxy_parse(buf, n, &h), 28);
	ck_assert(h.local);
	/* PROXY with family UNSPEC: keep the real addresses. */
	n = v2_build(buf, 0x21, 0x00, NULL, 0);
	ck_assert_int_eq(net_proxy_parse(buf, n, &h), 16);
	ck_assert(h.local);
	/* UNIX addresses (216 bytes). */
	unsigned char unixb[216] = {0};
	n = v2_build(buf, 0x21, 0x31, unixb, sizeof(unixb));
	ck_assert_int_eq(net_proxy_parse(buf, n, &h), 232);
	ck_assert(h.local);
}
END_TEST

START_TEST(test_v2_malformed)
{
	unsigned char buf[64];
	unsigned char inet[12] = {1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2};
	struct net_proxy_hdr h;
	/* version 1 in the binary form */
	size_t n = v2_build(buf, 0x11, 0x11, inet, sizeof(inet));
	ck_assert_int_eq(net_proxy_parse(buf, n, &h), CORE_ESYNTAX);
	/* unknown command 2 */
	n = v2_build(buf, 0x22, 0x11, inet, sizeof(inet));
	ck_assert_int_eq(net_proxy_parse(buf, n, &h), CORE_ESYNTAX);
	/* unknown family 4 */
	n = v2_build(buf, 0x21, 0x41, inet, sizeof(inet));
	ck_assert_int_eq(net_proxy_parse(buf, n, &h), CORE_ESYNTAX);
	/* unknown transport 3 */
	n = v2_build(buf, 0x21, 0x13, inet, sizeof(inet));
	ck_assert_int_eq(net_proxy_parse(buf, n, &h), CORE_ESYNTAX);
	/* length shorter than the INET address block */
	n = v2_build(buf, 0x21, 0x11, inet, 8);
	ck_assert_int_eq(net_proxy_parse(buf, n, &h), CORE_ESYNTAX);
	/* length shorter than the INET6 block */
	n = v2_build(buf, 0x21, 0x21, inet, 12);
	ck_assert_int_eq(net_proxy_parse(buf, n, &h), CORE_ESYNTAX);
	/* a broken signature byte */
	n = v2_build(buf, 0x21, 0x11, inet, sizeof(inet));
	buf[7] = 'X';
	ck_assert_int_eq(net_proxy_parse(buf, n, &h), CORE_ESYNTAX);
	ck_assert_int_eq(net_proxy_parse(buf, 8, &h), CORE_ESYNTAX);
	/* a truncated header with a large announced length asks for more */
	n = v2_build(buf, 0x21, 0x11, inet, sizeof(inet));
	buf[14] = 0xff;
	buf[15] = 0xff;
	ck_assert_int_eq(net_proxy_parse(buf, n, &h), CORE_MORE);
	/* neither form */
	ck_assert_int_eq(net_proxy_parse((const unsigned char *)"\x00", 1, &h), CORE_ESYNTAX);
	ck_assert_int_eq(net_proxy_parse((const unsigned char *)"\r\n\r\n\r", 5, &h), CORE_ESYNTAX);
}
END_TEST

/*
 * Trickle: feeding a growing prefix one byte at a time must answer CORE_MORE until the
 * same final result as the whole input, with the same header.
 */
static void trickle_one(const unsigned char *p, size_t len)
{
	struct net_proxy_hdr whole, part;
	memset(&whole, 0, sizeof(whole));
	int want = net_proxy_parse(p, len, &whole);
	int got = CORE_MORE;
	size_t i;
	for (i = 0; i <= len && got == CORE_MORE; i++) {
		memset(&part, 0, sizeof(part));
		got = net_proxy_parse(p, i, &part);
	}
	if (want == CORE_MORE) {
		ck_assert_int_eq(got, CORE_MORE);
		return;
	}
	ck_assert_int_eq(got, want);
	if (want > 0) {
		/* The result is reached exactly when the header is complete. */
		ck_assert_uint_eq(i - 1, (size_t)want);
		ck_assert(memcmp(&whole, &part, sizeof(whole)) == 0);
	}
}

START_TEST(test_trickle)
{
	for (size_t i = 0; i < CORE_NELEM(v1_cases); i++)
		trickle_one(v1_cases[i].p, v1_cases[i].len);
	unsigned char buf[300];
	unsigned char inet[12] = {10, 0, 0, 1, 10, 0, 0, 2, 0x12, 0x34, 0x00, 0x19};
	size_t n = v2_build(buf, 0x21, 0x11, inet, sizeof(inet));
	memcpy(buf + n, "EHLO", 4);
	trickle_one(buf, n + 4);
	n = v2_build(buf, 0x20, 0x00, NULL, 0);
	trickle_one(buf, n);
	n = v2_build(buf, 0x31, 0x11, inet, sizeof(inet));
	trickle_one(buf, n);
}
END_TEST

START_TEST(test_random_no_crash)
{
	/* Random bytes behind both valid openings: the result is always a valid code and a
	 * positive result never exceeds the input. */
	unsigned seed = 12345;
	unsigned char buf[512];
	struct net_proxy_hdr h;
	for (int round = 0; round < 20000; round++) {
		size_t len = (size_t)(rand_r(&seed) % sizeof(buf));
		for (size_t i = 0; i < len; i++)
			buf[i] = (unsigned char)rand_r(&seed);
		if (len > 12 && (round & 1))
			memcpy(buf, v2_sig, 12), buf[12] = 0x21, buf[14] = 0;
		else if (len > 6 && (round & 2))
			memcpy(buf, "PROXY ", 6);
		int r = net_proxy_parse(buf, len, &h);
		ck_assert(r == CORE_MORE || r == CORE_ESYNTAX || (r > 0 && (size_t)r <= len));
	}
}
END_TEST

static Suite *proxy_suite(void)
{
	Suite *s = suite_create("net_proxy");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, test_v1_table);
	tcase_add_test(tc, test_v1_too_long);
	tcase_add_test(tc, test_v2_inet);
	tcase_add_test(tc, test_v2_inet6);
	tcase_add_test(tc, test_v2_local_and_unspec);
	tcase_add_test(tc, test_v2_malformed);
	tcase_add_test(tc, test_trickle);
	tcase_add_test(tc, test_random_no_crash);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(proxy_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
