/*
 * test_dir_ldap.c: the LDAP directory (dir_ldap.c) against a real OpenLDAP server (slapd,
 * Debian package slapd) that the test starts on loopback with a generated configuration,
 * schema, TLS certificate and LDIF, and stops at the end.
 *
 * Covers: lookups by name, address, alias and id (the entryUUID slapd assigned, read back
 * with ldapsearch), nested groups with a cycle, list expansion, the admin role, quota and
 * disabled attributes, both authentication modes (bind as the user; read userPassword,
 * hashed by slappasswd), the empty-password rule of RFC 4513 §5.1.2, filter escaping
 * (RFC 4515 §3), StartTLS and LDAPS with certificate verification, the connection pool under
 * threads, a server restart, and a stable id across a rename.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper_dir.h"

/* libldap's GnuTLS backend (OpenLDAP 2.5) never frees the client certificate and key it
 * imports into a TLS context (directory.ldap.tls-cert): library memory, one copy per
 * context, not Staunch's. ci/valgrind.supp has the same entry. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libgnutls.so\n";
}

static char tmp[128];
static int port_plain, port_tls;
static pid_t slapd_pid = -1;
static const char *url_host = "127.0.0.1"; /* host part of the directory's URL */
static struct core_error err;

static int free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t l = sizeof(a);
	getsockname(s, (struct sockaddr *)&a, &l);
	close(s);
	return ntohs(a.sin_port);
}

static void write_file(const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static char *sh_out(const char *cmd)
{
	FILE *f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	char buf[512] = {0};
	char *r = fgets(buf, sizeof(buf), f);
	int rc = pclose(f);
	ck_assert_msg(r != NULL && rc == 0, "command failed: %s", cmd);
	buf[strcspn(buf, "\n")] = 0;
	return core_xstrdup(buf);
}

static const char schema_text[] =
	"attributetype ( 1.3.6.1.4.1.32473.1.1.1 NAME 'mailQuota' EQUALITY integerMatch\n"
	"  SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )\n"
	"attributetype ( 1.3.6.1.4.1.32473.1.1.2 NAME 'mailDisabled' EQUALITY booleanMatch\n"
	"  SYNTAX 1.3.6.1.4.1.1466.115.121.1.7 SINGLE-VALUE )\n"
	"attributetype ( 1.3.6.1.4.1.32473.1.1.3 NAME 'objectGUID' EQUALITY octetStringMatch\n"
	"  SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )\n"
	"objectclass ( 1.3.6.1.4.1.32473.1.2.1 NAME 'staunchMailUser' SUP top AUXILIARY\n"
	"  MAY ( mailQuota $ mailDisabled $ objectGUID ) )\n"
	"objectclass ( 1.3.6.1.4.1.32473.1.2.2 NAME 'staunchMailGroup' SUP top AUXILIARY\n"
	"  MAY ( mail ) )\n";

/* ldapi:// URL of the server's socket in tmp (the path percent-encoded). */
static char ldapi_url[256];

static void ldapi_url_make(void)
{
	char *o = ldapi_url + snprintf(ldapi_url, sizeof(ldapi_url), "ldapi://");
	for (const char *p = tmp; *p != '\0'; p++)
		o += *p == '/' ? snprintf(o, 4, "%%2F") : snprintf(o, 2, "%c", *p);
	snprintf(o, 10, "%%2Fldapi");
}

static void start_slapd(void)
{
	char cmd[1024], urls[512];
	snprintf(urls, sizeof(urls), "ldap://127.0.0.1:%d/ ldaps://127.0.0.1:%d/ %s/", port_plain,
		 port_tls, ldapi_url);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char conf[256];
		snprintf(conf, sizeof(conf), "%s/slapd.conf", tmp);
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		execl("/usr/sbin/slapd", "slapd", "-d", "0", "-f", conf, "-h", urls, (char *)NULL);
		_exit(127);
	}
	slapd_pid = pid;
	/* Ready when an anonymous search of the base answers. */
	snprintf(cmd, sizeof(cmd),
		 "ldapsearch -x -H ldap://127.0.0.1:%d -b dc=example,dc=org -s base "
		 ">/dev/null 2>&1",
		 port_plain);
	for (int i = 0; i < 200; i++) {
		if (system(cmd) == 0)
			return;
		usleep(50000);
	}
	ck_abort_msg("slapd did not start");
}

static void stop_slapd(void)
{
	if (slapd_pid > 0) {
		kill(slapd_pid, SIGTERM);
		waitpid(slapd_pid, NULL, 0);
		slapd_pid = -1;
	}
}

static void server_setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/staunch-ldap.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	port_plain = free_port();
	port_tls = free_port();
	ldapi_url_make();
	char cmd[2048];
	/* A certificate for 127.0.0.1, and an unrelated one to prove verification. */
	snprintf(cmd, sizeof(cmd),
		 "cd %s && mkdir db && for n in cert other; do openssl req -x509 -newkey ec "
		 "-pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $n.key -out $n.pem -days 2 "
		 "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1 || "
		 "exit 1; done",
		 tmp);
	test_dir_sh(cmd);
	/* A CA and the service's client certificate it issued (SASL EXTERNAL over TLS). */
	snprintf(cmd, sizeof(cmd),
		 "cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		 "-keyout ca.key -out ca.pem -days 2 -subj '/CN=Test CA' "
		 "-addext basicConstraints=critical,CA:TRUE >/dev/null 2>&1 && "
		 "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout svc.key "
		 "-out svc.csr -subj /CN=staunch-svc >/dev/null 2>&1 && "
		 "openssl x509 -req -in svc.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
		 "-out svc.pem -days 2 >/dev/null 2>&1",
		 tmp);
	test_dir_sh(cmd);
	write_file("staunch.schema", schema_text);
	char *svc = sh_out("slappasswd -h '{SSHA}' -s svcpw");
	char *alice = sh_out("slappasswd -h '{SSHA}' -s alicepw");
	char *bob = sh_out("slappasswd -h '{SSHA}' -s 'bob pw'");
	char conf[4096];
	snprintf(conf, sizeof(conf),
		 "include /etc/ldap/schema/core.schema\n"
		 "include /etc/ldap/schema/cosine.schema\n"
		 "include /etc/ldap/schema/inetorgperson.schema\n"
		 "include /etc/ldap/schema/misc.schema\n"
		 "include %s/staunch.schema\n"
		 "modulepath /usr/lib/ldap\n"
		 "moduleload back_mdb\n"
		 "pidfile %s/slapd.pid\n"
		 "TLSCertificateFile %s/cert.pem\n"
		 "TLSCertificateKeyFile %s/cert.key\n"
		 "TLSCACertificateFile %s/ca.pem\n"
		 "TLSVerifyClient allow\n"
		 "authz-regexp \"^cn=staunch-svc$\" \"cn=staunch,dc=example,dc=org\"\n"
		 "authz-regexp \"^gidnumber=[0-9]+\\\\+uidnumber=[0-9]+,cn=peercred,cn=external,"
		 "cn=auth$\" \"cn=staunch,dc=example,dc=org\"\n"
		 "database mdb\n"
		 "suffix \"dc=example,dc=org\"\n"
		 "rootdn \"cn=admin,dc=example,dc=org\"\n"
		 "rootpw rootpw\n"
		 "directory %s/db\n"
		 "maxsize 10485760\n"
		 "access to attrs=userPassword by dn.exact=\"cn=staunch,dc=example,dc=org\" read "
		 "by anonymous auth by * none\n"
		 "access to * by * read\n",
		 tmp, tmp, tmp, tmp, tmp, tmp);
	write_file("slapd.conf", conf);
	char ldif[4096];
	snprintf(ldif, sizeof(ldif),
		 "dn: dc=example,dc=org\nobjectClass: dcObject\nobjectClass: organization\n"
		 "o: Example\ndc: example\n\n"
		 "dn: ou=people,dc=example,dc=org\nobjectClass: organizationalUnit\nou: people\n\n"
		 "dn: ou=groups,dc=example,dc=org\nobjectClass: organizationalUnit\nou: groups\n\n"
		 "dn: cn=staunch,dc=example,dc=org\nobjectClass: person\ncn: staunch\nsn: svc\n"
		 "userPassword: %s\n\n"
		 "dn: uid=alice,ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\n"
		 "objectClass: inetLocalMailRecipient\nobjectClass: staunchMailUser\nuid: alice\n"
		 "cn: Alice Liddell\nsn: Liddell\nmail: Alice@Example.org\n"
		 "mailLocalAddress: al@example.org\nmailQuota: 1048576\nuserPassword: %s\n"
		 "objectGUID:: AAEC/wQFBgcICQoLDA0ODw==\n\n"
		 "dn: uid=bob,ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\n"
		 "uid: bob\ncn: Bob\nsn: B\nmail: bob@example.org\nuserPassword: %s\n\n"
		 "dn: uid=carol,ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\n"
		 "objectClass: staunchMailUser\nuid: carol\ncn: Carol\nsn: C\n"
		 "mail: carol@example.org\nmailDisabled: TRUE\nuserPassword: %s\n\n"
		 "dn: cn=devs,ou=groups,dc=example,dc=org\nobjectClass: groupOfNames\ncn: devs\n"
		 "member: uid=alice,ou=people,dc=example,dc=org\n"
		 "member: cn=eng,ou=groups,dc=example,dc=org\n\n"
		 "dn: cn=eng,ou=groups,dc=example,dc=org\nobjectClass: groupOfNames\n"
		 "objectClass: staunchMailGroup\ncn: eng\nmail: eng@example.org\n"
		 "member: cn=devs,ou=groups,dc=example,dc=org\n"
		 "member: uid=bob,ou=people,dc=example,dc=org\n"
		 "member: uid=carol,ou=people,dc=example,dc=org\n\n"
		 "dn: cn=admins,ou=groups,dc=example,dc=org\nobjectClass: groupOfNames\n"
		 "cn: admins\nmember: uid=alice,ou=people,dc=example,dc=org\n",
		 svc, alice, bob, alice);
	write_file("data.ldif", ldif);
	free(svc);
	free(alice);
	free(bob);
	snprintf(cmd, sizeof(cmd), "slapadd -f %s/slapd.conf -l %s/data.ldif >%s/slapadd.log 2>&1",
		 tmp, tmp, tmp);
	test_dir_sh(cmd);
	start_slapd();
}

static void server_teardown(void)
{
	stop_slapd();
	test_dir_rmtree(tmp);
}

/* A directory on the test server; mode "bind" or "password", url plain/starttls/ldaps. */
static const char *id_attr = "entryUUID";

static struct dir *open_ldap(struct core_conf **c_out, const char *mode, const char *tls,
			     const char *ca, int want)
{
	dir_conf_register();
	struct core_conf *c = core_conf_new_empty();
	char url[128], path[256];
	if (strcmp(tls, "ldaps") == 0)
		snprintf(url, sizeof(url), "ldaps://%s:%d", url_host, port_tls);
	else
		snprintf(url, sizeof(url), "ldap://%s:%d", url_host, port_plain);
	core_conf_set(c, "directory.type", "ldap");
	core_conf_set(c, "directory.ldap.url", url);
	core_conf_set(c, "directory.ldap.starttls",
		      strcmp(tls, "starttls") == 0 ? "true" : "false");
	if (ca != NULL) {
		snprintf(path, sizeof(path), "%s/%s", tmp, ca);
		core_conf_set(c, "directory.ldap.tls-ca", path);
	}
	core_conf_set(c, "directory.ldap.base-dn", "dc=example,dc=org");
	core_conf_set(c, "directory.ldap.bind-dn", "cn=staunch,dc=example,dc=org");
	core_conf_set(c, "directory.ldap.bind-password", "svcpw");
	core_conf_set(c, "directory.ldap.auth-mode", mode);
	core_conf_set(c, "directory.ldap.attr.disabled", "mailDisabled");
	core_conf_set(c, "directory.ldap.admin-group", "admins");
	core_conf_set(c, "directory.ldap.pool-size", "2");
	core_conf_set(c, "directory.ldap.attr.id", id_attr);
	core_conf_set(c, "directory.domains", "[\"example.org\"]");
	struct dir *d = NULL;
	int r = dir_open_conf(c, NULL, &d, &err);
	ck_assert_msg(r == want, "open %s %s: %s (%s)", mode, tls, core_err_name(r), err.msg);
	if (d != NULL) {
		struct dir_settings s = *dir_settings_get(d);
		s.policy = TEST_DIR_POLICY;
		dir_settings_set(d, &s);
	}
	*c_out = c;
	return d;
}

START_TEST(test_lookups_and_ids)
{
	struct core_conf *c;
	struct dir *d = open_ldap(&c, "bind", "plain", NULL, 0);
	struct core_arena *a = core_arena_new(0);
	struct dir_principal *p;
	ck_assert_int_eq(dir_principal_by_name(d, CORE_STR("Alice"), a, &p, &err), 0);
	ck_assert_str_eq(p->name, "alice");
	ck_assert_str_eq(p->address, "alice@example.org");
	ck_assert_str_eq(p->description, "Alice Liddell");
	ck_assert_uint_eq(p->n_aliases, 1);
	ck_assert_str_eq(p->aliases[0], "al@example.org");
	ck_assert_uint_eq(p->quota_bytes, 1048576);
	ck_assert_int_eq(p->role, DIR_ROLE_ADMIN);
	ck_assert_ptr_null(p->secret); /* bind mode never reads the password attribute */
	/* The id is the entryUUID slapd assigned. */
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
		 "ldapsearch -x -LLL -H ldap://127.0.0.1:%d -b uid=alice,ou=people,dc=example,"
		 "dc=org -s base entryUUID | sed -n 's/^entryUUID: //p'",
		 port_plain);
	char *uuid = sh_out(cmd);
	ck_assert_str_eq(p->id, uuid);
	struct dir_principal *q;
	ck_assert_int_eq(dir_principal_by_id(d, core_str_from_cstr(uuid), a, &q, &err), 0);
	ck_assert_str_eq(q->name, "alice");
	free(uuid);
	ck_assert_int_eq(dir_principal_by_address(d, CORE_STR("AL@example.org"), a, &q, &err), 0);
	ck_assert_str_eq(q->name, "alice");
	ck_assert_int_eq(dir_principal_by_name(d, CORE_STR("bob"), a, &q, &err), 0);
	ck_assert_int_eq(q->role, DIR_ROLE_USER);
	ck_assert_int_eq(dir_principal_by_name(d, CORE_STR("carol"), a, &q, &err), 0);
	ck_assert(q->disabled);
	/* RFC 4515 §3: the value is escaped, so these match nothing. */
	ck_assert_int_eq(dir_principal_by_name(d, CORE_STR("*"), a, &q, &err), CORE_ENOTFOUND);
	ck_assert_int_eq(dir_principal_by_name(d, CORE_STR("uid=bob,ou=people,dc=example,dc=org"),
					       a, &q, &err),
			 0);
	ck_assert_str_eq(q->name, "bob");
	ck_assert_int_eq(dir_principal_by_name(d, CORE_STR("uid=bob,dc=other"), a, &q, &err),
			 CORE_ENOTFOUND);
	ck_assert_int_eq(dir_principal_by_name(d, CORE_STR("alice)(uid=*"), a, &q, &err),
			 CORE_ENOTFOUND);
	ck_assert_int_eq(dir_principal_by_id(d, CORE_STR("no-such-uuid"), a, &q, &err),
			 CORE_ENOTFOUND);
	ck_assert_int_eq(dir_is_local_domain(d, CORE_STR("example.org"), &err), 1);
	ck_assert_int_eq(dir_is_local_domain(d, CORE_STR("example.com"), &err), 0);
	struct dir_principal np = {.type = DIR_INDIVIDUAL, .name = "x"};
	const char *id;
	ck_assert_int_eq(dir_principal_create(d, &np, a, &id, &err), CORE_EPERM);
	core_arena_free(&a);
	dir_free(&d);
	core_conf_free(&c);
}
END_TEST

START_TEST(test_object_guid)
{
	/* Active Directory style: a binary objectGUID as the id, shown in hex, found again. */
	id_attr = "objectGUID";
	struct core_conf *c;
	struct dir *d = open_ldap(&c, "bind", "plain", NULL, 0);
	struct core_arena *a = core_arena_new(0);
	struct dir_principal *p;
	ck_assert_int_eq(dir_principal_by_name(d, CORE_STR("alice"), a, &p, &err), 0);
	/* AAEC/wQFBgcICQoLDA0ODw== is 00 01 02 ff 04 05 ... 0f. */
	ck_assert_str_eq(p->id, "000102ff0405060708090a0b0c0d0e0f");
	struct dir_principal *q;
	ck_assert_int_eq(dir_principal_by_id(d, core_str_from_cstr(p->id), a, &q, &err), 0);
	ck_assert_str_eq(q->name, "alice");
	ck_assert_int_eq(
		dir_principal_by_id(d, CORE_STR("000102ff0405060708090a0b0c0d0e0e"), a, &q, &err),
		CORE_ENOTFOUND);
	/* An entry without the id attribute is an error, not a principal without an id. */
	ck_assert_int_eq(dir_principal_by_name(d, CORE_STR("bob"), a, &q, &err), CORE_EIO);
	core_arena_free(&a);
	dir_free(&d);
	core_conf_free(&c);
	id_attr = "entryUUID";
}
END_TEST

START_TEST(test_groups_and_resolve)
{
	struct core_conf *c;
	struct dir *d = open_ldap(&c, "bind", "plain", NULL, 0);
	struct core_arena *a = core_arena_new(0);
	struct dir_principal *p;
	ck_assert_int_eq(dir_principal_by_name(d, CORE_STR("alice"), a, &p, &err), 0);
	const char **names;
	size_t n;
	ck_assert_int_eq(dir_member_of(d, p, a, &names, &n, &err), 0);
	ck_assert_uint_eq(n, 3); /* devs, admins, eng (through devs) */
	bool eng = false;
	for (size_t i = 0; i < n; i++)
		eng |= strcmp(names[i], "eng") == 0;
	ck_assert(eng);
	/* eng@ = devs (alice, eng: a cycle) + bob + carol (disabled). */
	struct dir_rcpt r;
	ck_assert_int_eq(dir_resolve(d, CORE_STR("eng+x@example.org"), a, &r, &err), 0);
	ck_assert_int_eq(r.status, DIR_RCPT_LOCAL);
	ck_assert_uint_eq(r.n_targets, 2);
	ck_assert_str_eq(r.targets[0].subaddress, "x");
	ck_assert_int_eq(dir_resolve(d, CORE_STR("al@example.org"), a, &r, &err), 0);
	ck_assert_str_eq(r.targets[0].principal->name, "alice");
	ck_assert_int_eq(dir_resolve(d, CORE_STR("nobody@example.org"), a, &r, &err), 0);
	ck_assert_int_eq(r.status, DIR_RCPT_UNKNOWN);
	ck_assert_int_eq(dir_resolve(d, CORE_STR("x@elsewhere.example"), a, &r, &err), 0);
	ck_assert_int_eq(r.status, DIR_RCPT_REMOTE);
	core_arena_free(&a);
	dir_free(&d);
	core_conf_free(&c);
}
END_TEST

static void check_auth(struct dir *d)
{
	struct core_arena *a = core_arena_new(0);
	struct dir_principal *p;
	ck_assert_int_eq(
		dir_authenticate(d, NULL, CORE_STR("alice"), CORE_STR("alicepw"), a, &p, &err), 1);
	ck_assert_str_eq(p->name, "alice");
	ck_assert_int_eq(dir_authenticate(d, NULL, CORE_STR("bob@example.org"), CORE_STR("bob pw"),
					  a, &p, &err),
			 1);
	ck_assert_int_eq(
		dir_authenticate(d, NULL, CORE_STR("alice"), CORE_STR("bob pw"), a, &p, &err), 0);
	/* RFC 4513 §5.1.2: an empty password must not become an unauthenticated bind. */
	ck_assert_int_eq(dir_authenticate(d, NULL, CORE_STR("alice"), CORE_STR(""), a, &p, &err),
			 0);
	ck_assert_int_eq(
		dir_authenticate(d, NULL, CORE_STR("nobody"), CORE_STR("alicepw"), a, &p, &err), 0);
	ck_assert_int_eq(
		dir_authenticate(d, NULL, CORE_STR("carol"), CORE_STR("alicepw"), a, &p, &err),
		CORE_EPERM);
	ck_assert_int_eq(dir_authenticate(d, NULL, CORE_STR("eng"), CORE_STR("x"), a, &p, &err), 0);
	/* Through SASL PLAIN. */
	struct dir_sasl ds;
	dir_sasl_init(&ds, d, NULL);
	struct sasl_config cfg = {0};
	struct sasl_conn_info ci = {.tls = true};
	struct core_buf out = CORE_BUF_INIT;
	unsigned offered = sasl_mechs_offered(&cfg, &ds.be, &ci, &out);
	ck_assert(offered & SASL_MECH_BIT(SASL_MECH_PLAIN));
	ck_assert(!(offered & SASL_MECH_BIT(SASL_MECH_SCRAM_SHA_256)));
	struct sasl_exchange *x = sasl_exchange_new(&cfg, &ds.be, &ci, "PLAIN", 5);
	ck_assert_int_eq(sasl_exchange_step(x, "\0alice\0alicepw", 14, true, &out), SASL_OK);
	sasl_exchange_free(&x);
	core_buf_fini(&out);
	core_arena_free(&a);
}

START_TEST(test_auth_bind_mode)
{
	struct core_conf *c;
	struct dir *d = open_ldap(&c, "bind", "plain", NULL, 0);
	check_auth(d);
	dir_free(&d);
	core_conf_free(&c);
}
END_TEST

START_TEST(test_auth_password_mode)
{
	struct core_conf *c;
	struct dir *d = open_ldap(&c, "password", "plain", NULL, 0);
	struct core_arena *a = core_arena_new(0);
	struct dir_principal *p;
	ck_assert_int_eq(dir_principal_by_name(d, CORE_STR("alice"), a, &p, &err), 0);
	ck_assert_ptr_nonnull(p->secret);
	ck_assert_str_eq(dir_password_scheme(p->secret, strlen(p->secret)), "ssha");
	core_arena_free(&a);
	check_auth(d);
	dir_free(&d);
	core_conf_free(&c);
}
END_TEST

START_TEST(test_tls)
{
	struct core_conf *c;
	struct dir *d = open_ldap(&c, "bind", "starttls", "cert.pem", 0);
	check_auth(d);
	dir_free(&d);
	core_conf_free(&c);
	d = open_ldap(&c, "bind", "ldaps", "cert.pem", 0);
	check_auth(d);
	dir_free(&d);
	core_conf_free(&c);
	/* RFC 4513 §3.1.3: a certificate the configured CA did not sign is refused. */
	d = open_ldap(&c, "bind", "starttls", "other.pem", CORE_ETEMP);
	ck_assert_ptr_null(d);
	core_conf_free(&c);
	d = open_ldap(&c, "bind", "ldaps", "other.pem", CORE_ETEMP);
	ck_assert_ptr_null(d);
	core_conf_free(&c);
	/* RFC 4513 §3.1.3: the name in the URL must match the certificate (which names only
	 * 127.0.0.1): "localhost" reaches the server without TLS, but TLS refuses it. */
	url_host = "localhost";
	d = open_ldap(&c, "bind", "plain", NULL, 0);
	dir_free(&d);
	core_conf_free(&c);
	d = open_ldap(&c, "bind", "starttls", "cert.pem", CORE_ETEMP);
	ck_assert_ptr_null(d);
	core_conf_free(&c);
	url_host = "127.0.0.1";
}
END_TEST

struct worker {
	struct dir *d;
	int failures;
};

static void *pool_worker(void *arg)
{
	struct worker *w = arg;
	struct core_arena *a = core_arena_new(0);
	struct core_error e;
	for (int i = 0; i < 25; i++) {
		struct dir_principal *p;
		core_error_clear(&e);
		const char *name = (i % 2) ? "alice" : "bob";
		if (dir_principal_by_name(w->d, core_str_from_cstr(name), a, &p, &e) != 0 ||
		    strcmp(p->name, name) != 0)
			w->failures++;
		core_arena_reset(a);
	}
	core_arena_free(&a);
	return NULL;
}

START_TEST(test_pool_threads)
{
	struct core_conf *c;
	struct dir *d = open_ldap(&c, "bind", "plain", NULL, 0);
	pthread_t th[4];
	struct worker w[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){.d = d};
		pthread_create(&th[i], NULL, pool_worker, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(w[i].failures, 0);
	}
	dir_free(&d);
	core_conf_free(&c);
}
END_TEST

START_TEST(test_restart_and_rename)
{
	struct core_conf *c;
	struct dir *d = open_ldap(&c, "bind", "plain", NULL, 0);
	struct core_arena *a = core_arena_new(0);
	struct dir_principal *p;
	ck_assert_int_eq(dir_principal_by_name(d, CORE_STR("alice"), a, &p, &err), 0);
	const char *uuid = p->id;
	/* Server gone: a temporary error, not a crash or a hang. */
	stop_slapd();
	ck_assert_int_eq(dir_principal_by_name(d, CORE_STR("alice"), a, &p, &err), CORE_ETEMP);
	ck_assert_int_eq(
		dir_authenticate(d, NULL, CORE_STR("alice"), CORE_STR("alicepw"), a, &p, &err),
		CORE_ETEMP);
	start_slapd();
	ck_assert_int_eq(dir_principal_by_name(d, CORE_STR("alice"), a, &p, &err), 0);
	/* Renaming keeps the id (entryUUID), so the account stays the same. */
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
		 "ldapmodrdn -x -H ldap://127.0.0.1:%d -D cn=admin,dc=example,dc=org -w rootpw -r "
		 "uid=alice,ou=people,dc=example,dc=org uid=alicia >/dev/null",
		 port_plain);
	test_dir_sh(cmd);
	ck_assert_int_eq(dir_principal_by_name(d, CORE_STR("alice"), a, &p, &err), CORE_ENOTFOUND);
	ck_assert_int_eq(dir_principal_by_name(d, CORE_STR("alicia"), a, &p, &err), 0);
	ck_assert_str_eq(p->id, uuid);
	core_arena_free(&a);
	dir_free(&d);
	core_conf_free(&c);
}
END_TEST

/* RFC 4513 §5.2.3: the service account binds with SASL EXTERNAL, its identity the TLS
 * client certificate or the ldapi:// socket's credentials (slapd maps both to
 * cn=staunch, the only identity that may read userPassword, so password mode works only
 * when the bind really took that identity). */
static struct dir *open_external(struct core_conf **c_out, const char *url, bool starttls,
				 const char *cert, int want)
{
	dir_conf_register();
	struct core_conf *c = core_conf_new_empty();
	char path[256], kpath[256], ca[256];
	core_conf_set(c, "directory.type", "ldap");
	core_conf_set(c, "directory.ldap.url", url);
	core_conf_set(c, "directory.ldap.starttls", starttls ? "true" : "false");
	snprintf(ca, sizeof(ca), "%s/cert.pem", tmp);
	core_conf_set(c, "directory.ldap.tls-ca", ca);
	if (cert != NULL) {
		snprintf(path, sizeof(path), "%s/%s.pem", tmp, cert);
		snprintf(kpath, sizeof(kpath), "%s/%s.key", tmp, cert);
		core_conf_set(c, "directory.ldap.tls-cert", path);
		core_conf_set(c, "directory.ldap.tls-key", kpath);
	}
	core_conf_set(c, "directory.ldap.bind-method", "external");
	core_conf_set(c, "directory.ldap.base-dn", "dc=example,dc=org");
	core_conf_set(c, "directory.ldap.auth-mode", "password");
	core_conf_set(c, "directory.ldap.attr.id", "entryUUID");
	core_conf_set(c, "directory.domains", "[\"example.org\"]");
	struct dir *d = NULL;
	int r = dir_open_conf(c, NULL, &d, &err);
	ck_assert_msg(r == want, "open external %s: %s (%s)", url, core_err_name(r), err.msg);
	if (d != NULL) {
		struct dir_settings s = *dir_settings_get(d);
		s.policy = TEST_DIR_POLICY;
		dir_settings_set(d, &s);
	}
	*c_out = c;
	return d;
}

static int auth_alice(struct dir *d, const char *pw)
{
	struct core_arena *a = core_arena_new(0);
	struct dir_principal *p = NULL;
	int r = dir_authenticate(d, NULL, CORE_STR("alice"), core_str_from_cstr(pw), a, &p, &err);
	core_arena_free(&a);
	return r;
}

START_TEST(test_sasl_external)
{
	struct core_conf *c;
	char ldaps[128], plain[128];
	snprintf(ldaps, sizeof(ldaps), "ldaps://127.0.0.1:%d", port_tls);
	snprintf(plain, sizeof(plain), "ldap://127.0.0.1:%d", port_plain);
	/* Over LDAPS and over StartTLS with the service certificate, and over ldapi://. */
	struct {
		const char *url;
		bool starttls;
		const char *cert;
	} ok[] = {{ldaps, false, "svc"}, {plain, true, "svc"}, {ldapi_url, false, NULL}};
	for (size_t i = 0; i < CORE_NELEM(ok); i++) {
		struct dir *d = open_external(&c, ok[i].url, ok[i].starttls, ok[i].cert, 0);
		ck_assert_msg(auth_alice(d, "alicepw") == 1, "case %zu: %s", i, err.msg);
		ck_assert_int_eq(auth_alice(d, "wrong"), 0);
		dir_free(&d);
		core_conf_free(&c);
	}
	/* The same directory without a service identity (anonymous) cannot read passwords:
	 * what the cases above prove is the EXTERNAL identity. */
	struct dir *d = NULL;
	dir_conf_register();
	c = core_conf_new_empty();
	core_conf_set(c, "directory.type", "ldap");
	core_conf_set(c, "directory.ldap.url", plain);
	core_conf_set(c, "directory.ldap.base-dn", "dc=example,dc=org");
	core_conf_set(c, "directory.ldap.auth-mode", "password");
	core_conf_set(c, "directory.ldap.attr.id", "entryUUID");
	core_conf_set(c, "directory.domains", "[\"example.org\"]");
	ck_assert_msg(dir_open_conf(c, NULL, &d, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(auth_alice(d, "alicepw"), 0);
	dir_free(&d);
	core_conf_free(&c);
	/* A certificate the server's CA did not issue gives no identity: the bind fails. */
	d = open_external(&c, ldaps, false, "other", CORE_ETEMP);
	ck_assert_ptr_null(d);
	core_conf_free(&c);
	/* No identity to offer: refused at configuration. */
	d = open_external(&c, ldaps, false, NULL, CORE_ESYNTAX);
	ck_assert_ptr_nonnull(strstr(err.msg, "external"));
	core_conf_free(&c);
	d = open_external(&c, plain, false, "svc", CORE_ESYNTAX);
	core_conf_free(&c);
}
END_TEST

START_TEST(test_bad_config)
{
	struct core_conf *c = core_conf_new_empty();
	dir_conf_register();
	core_conf_set(c, "directory.type", "ldap");
	struct dir *d = NULL;
	ck_assert_int_eq(dir_open_conf(c, NULL, &d, &err), CORE_ESYNTAX);
	ck_assert_ptr_nonnull(strstr(err.msg, "base-dn"));
	core_conf_set(c, "directory.ldap.base-dn", "dc=example,dc=org");
	char url[64];
	snprintf(url, sizeof(url), "ldap://127.0.0.1:%d", port_plain);
	core_conf_set(c, "directory.ldap.url", url);
	core_conf_set(c, "directory.ldap.bind-dn", "cn=staunch,dc=example,dc=org");
	core_conf_set(c, "directory.ldap.bind-password", "wrong");
	ck_assert_int_eq(dir_open_conf(c, NULL, &d, &err), CORE_ETEMP);
	ck_assert_ptr_nonnull(strstr(err.msg, "service account"));
	core_conf_set(c, "directory.ldap.url", "not a url");
	ck_assert_int_lt(dir_open_conf(c, NULL, &d, &err), 0);
	ck_assert_ptr_null(d);
	core_conf_free(&c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("dir_ldap");
	TCase *tc = tcase_create("slapd");
	tcase_add_unchecked_fixture(tc, server_setup, server_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_lookups_and_ids);
	tcase_add_test(tc, test_object_guid);
	tcase_add_test(tc, test_groups_and_resolve);
	tcase_add_test(tc, test_auth_bind_mode);
	tcase_add_test(tc, test_auth_password_mode);
	tcase_add_test(tc, test_tls);
	tcase_add_test(tc, test_sasl_external);
	tcase_add_test(tc, test_pool_threads);
	tcase_add_test(tc, test_bad_config);
	suite_add_tcase(s, tc);
	/* Last, on its own server: it stops slapd and renames an entry. */
	TCase *tr = tcase_create("restart");
	tcase_add_checked_fixture(tr, server_setup, server_teardown);
	tcase_set_timeout(tr, 120);
	tcase_add_test(tr, test_restart_and_rename);
	suite_add_tcase(s, tr);
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
