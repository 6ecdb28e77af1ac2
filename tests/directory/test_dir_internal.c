/*
 * test_dir_internal.c: the internal directory (dir_internal.c) and the backend-independent
 * queries of directory.c on it: uniqueness rules, lookups, recipient resolution (aliases,
 * domain aliases, subaddresses, lists, catch-all), nested membership, authentication,
 * app passwords, SASL callbacks, management and concurrent creates.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "helper_dir.h"

static struct test_dir_env env;
static struct core_error err;

static struct dir_principal domain(const char *name, const char **aliases, size_t n,
				   const char *catch_all)
{
	return (struct dir_principal){.type = DIR_DOMAIN,
				      .name = name,
				      .aliases = aliases,
				      .n_aliases = n,
				      .catch_all = catch_all};
}

static struct dir_principal person(const char *name, const char *addr, const char **aliases,
				   size_t n)
{
	return (struct dir_principal){.type = DIR_INDIVIDUAL,
				      .name = name,
				      .address = addr,
				      .aliases = aliases,
				      .n_aliases = n};
}

static struct dir_principal collection(enum dir_type t, const char *name, const char *addr,
				       const char **members, size_t n)
{
	return (struct dir_principal){
		.type = t, .name = name, .address = addr, .members = members, .n_members = n};
}

static const char *alice_id, *bob_id, *carol_id, *dom_id;

/* example.org (alias example.net), alice (al@), bob, carol (disabled). */
static void setup(void)
{
	test_dir_env_open(&env);
	core_error_clear(&err);
	const char *dal[] = {"Example.NET"};
	struct dir_principal d = domain("example.org", dal, 1, NULL);
	dom_id = test_dir_create(&env, &d);
	struct dir_principal other = domain("other.test", NULL, 0, "postmaster@example.org");
	test_dir_create(&env, &other);
	const char *aal[] = {"al@example.org", "alice.smith@example.net"};
	struct dir_principal a = person("alice", "Alice@Example.org", aal, 2);
	alice_id = test_dir_create(&env, &a);
	struct dir_principal b = person("bob", "bob@example.org", NULL, 0);
	bob_id = test_dir_create(&env, &b);
	struct dir_principal c = person("carol", "carol@example.org", NULL, 0);
	c.disabled = true;
	carol_id = test_dir_create(&env, &c);
}

static void teardown(void)
{
	test_dir_env_close(&env);
}

START_TEST(test_ids_stable_and_numeric)
{
	uint64_t a, b;
	ck_assert_int_eq(core_str_to_u64(core_str_from_cstr(alice_id), &a), 0);
	ck_assert_int_eq(core_str_to_u64(core_str_from_cstr(bob_id), &b), 0);
	ck_assert_uint_eq(b, a + 1);
	uint64_t acc;
	struct dir_principal *p;
	ck_assert_int_eq(dir_principal_by_id(env.d, core_str_from_cstr(alice_id), env.a, &p, &err),
			 0);
	ck_assert_int_eq(dir_account_id(env.d, p, &acc, &err), 0);
	ck_assert_uint_eq(acc, a);
	/* Renaming keeps the id. */
	p->name = "alice2";
	ck_assert_int_eq(dir_principal_update(env.d, p, &err), 0);
	struct dir_principal *q;
	ck_assert_int_eq(dir_principal_by_name(env.d, CORE_STR("ALICE2"), env.a, &q, &err), 0);
	ck_assert_str_eq(q->id, alice_id);
	ck_assert_int_eq(dir_principal_by_name(env.d, CORE_STR("alice"), env.a, &q, &err),
			 CORE_ENOTFOUND);
}
END_TEST

START_TEST(test_lookups)
{
	struct dir_principal *p;
	static const char *addrs[] = {"alice@example.org", "ALICE@example.org", "al@EXAMPLE.org",
				      "alice.smith@example.org", "<al@example.org>"};
	for (size_t i = 0; i < CORE_NELEM(addrs); i++) {
		int r = dir_principal_by_address(env.d, core_str_from_cstr(addrs[i]), env.a, &p,
						 &err);
		ck_assert_msg(r == 0, "%s: %s", addrs[i], core_err_name(r));
		ck_assert_str_eq(p->id, alice_id);
		ck_assert_str_eq(p->name, "alice");
	}
	/* Stored in canonical form, aliases in the canonical domain. */
	ck_assert_str_eq(p->address, "alice@example.org");
	ck_assert_uint_eq(p->n_aliases, 2);
	ck_assert_str_eq(p->aliases[1], "alice.smith@example.org");
	ck_assert_int_eq(
		dir_principal_by_address(env.d, CORE_STR("nobody@example.org"), env.a, &p, &err),
		CORE_ENOTFOUND);
	ck_assert_int_eq(dir_principal_by_address(env.d, CORE_STR("no-at-sign"), env.a, &p, &err),
			 CORE_ESYNTAX);
	ck_assert_int_eq(dir_principal_by_id(env.d, CORE_STR("999"), env.a, &p, &err),
			 CORE_ENOTFOUND);
	ck_assert_int_eq(dir_principal_by_id(env.d, CORE_STR("x1"), env.a, &p, &err),
			 CORE_ENOTFOUND);
	ck_assert_int_eq(dir_is_local_domain(env.d, CORE_STR("EXAMPLE.org."), &err), 1);
	ck_assert_int_eq(dir_is_local_domain(env.d, CORE_STR("example.net"), &err), 1);
	ck_assert_int_eq(dir_is_local_domain(env.d, CORE_STR("example.com"), &err), 0);
	ck_assert_int_eq(dir_is_local_domain(env.d, CORE_STR(""), &err), 0);
}
END_TEST

START_TEST(test_uniqueness)
{
	const char *id;
	struct dir_principal dup = person("dave", "al@example.net", NULL, 0);
	ck_assert_int_eq(dir_principal_create(env.d, &dup, env.a, &id, &err), CORE_ECONFLICT);
	ck_assert_ptr_nonnull(strstr(err.msg, "al@example.org"));
	struct dir_principal name = person("ALICE", "alice2@example.org", NULL, 0);
	ck_assert_int_eq(dir_principal_create(env.d, &name, env.a, &id, &err), CORE_ECONFLICT);
	struct dir_principal remote = person("erin", "erin@example.com", NULL, 0);
	ck_assert_int_eq(dir_principal_create(env.d, &remote, env.a, &id, &err), CORE_ENOTFOUND);
	struct dir_principal dom = domain("example.com", (const char *[]){"example.net"}, 1, NULL);
	ck_assert_int_eq(dir_principal_create(env.d, &dom, env.a, &id, &err), CORE_ECONFLICT);
	/* Nothing of a failed create is visible. */
	ck_assert_int_eq(dir_is_local_domain(env.d, CORE_STR("example.com"), &err), 0);
	struct dir_principal bad = person("with space", NULL, NULL, 0);
	ck_assert_int_eq(dir_principal_create(env.d, &bad, env.a, &id, &err), CORE_ESYNTAX);
	bad = person("", NULL, NULL, 0);
	ck_assert_int_eq(dir_principal_create(env.d, &bad, env.a, &id, &err), CORE_ESYNTAX);
	bad = person("x", "x@", NULL, 0);
	ck_assert_int_eq(dir_principal_create(env.d, &bad, env.a, &id, &err), CORE_ESYNTAX);
	struct dir_principal grp = collection(DIR_GROUP, "a@b", NULL, NULL, 0);
	ck_assert_int_eq(dir_principal_create(env.d, &grp, env.a, &id, &err), CORE_ESYNTAX);
}
END_TEST

static struct dir_rcpt resolve(const char *addr, int want_r)
{
	struct dir_rcpt r;
	int rc = dir_resolve(env.d, core_str_from_cstr(addr), env.a, &r, &err);
	ck_assert_msg(rc == want_r, "%s: %s (%s)", addr, core_err_name(rc), err.msg);
	return r;
}

START_TEST(test_resolve_direct)
{
	struct dir_rcpt r = resolve("al@example.net", 0);
	ck_assert_int_eq(r.status, DIR_RCPT_LOCAL);
	ck_assert_uint_eq(r.n_targets, 1);
	ck_assert_str_eq(r.targets[0].principal->id, alice_id);
	ck_assert_ptr_null(r.targets[0].subaddress);
	ck_assert_str_eq(r.matched, "address");

	r = resolve("Alice+Lists@example.org", 0);
	ck_assert_int_eq(r.status, DIR_RCPT_LOCAL);
	ck_assert_str_eq(r.targets[0].principal->id, alice_id);
	ck_assert_str_eq(r.targets[0].subaddress, "lists");
	ck_assert_str_eq(r.matched, "subaddress");
	/* Only the first separator splits; the rest is the detail. */
	r = resolve("bob+a+b@example.net", 0);
	ck_assert_str_eq(r.targets[0].subaddress, "a+b");
	/* A separator at the start is part of the name. */
	r = resolve("+bob@example.org", 0);
	ck_assert_int_eq(r.status, DIR_RCPT_UNKNOWN);

	r = resolve("nobody@example.org", 0);
	ck_assert_int_eq(r.status, DIR_RCPT_UNKNOWN);
	r = resolve("someone@example.com", 0);
	ck_assert_int_eq(r.status, DIR_RCPT_REMOTE);
	/* A disabled individual does not receive mail. */
	r = resolve("carol@example.org", 0);
	ck_assert_int_eq(r.status, DIR_RCPT_UNKNOWN);
	resolve("", CORE_ESYNTAX);
	resolve("@example.org", CORE_ESYNTAX);
	resolve("a b@example.org", CORE_ESYNTAX);
	/* A NUL inside, an over-long address, a bare '@': refused without a crash. */
	struct dir_rcpt rr;
	ck_assert_int_eq(
		dir_resolve(env.d, core_str_make("bob\0x@example.org", 17), env.a, &rr, &err),
		CORE_ESYNTAX);
	char longaddr[300];
	memset(longaddr, 'a', sizeof(longaddr));
	memcpy(longaddr + 280, "@example.org", 12);
	ck_assert_int_eq(dir_resolve(env.d, core_str_make(longaddr, 292), env.a, &rr, &err),
			 CORE_ESYNTAX);
	resolve("@", CORE_ESYNTAX);
	resolve("bob@", CORE_ESYNTAX);
	/* The domain follows the last '@'. */
	r = resolve("\"x@y\"@example.com", 0);
	ck_assert_int_eq(r.status, DIR_RCPT_REMOTE);

	/* Configurable separators; empty disables subaddressing. */
	struct dir_settings s = *dir_settings_get(env.d);
	snprintf(s.subaddress_sep, sizeof(s.subaddress_sep), "-_");
	dir_settings_set(env.d, &s);
	r = resolve("bob_x@example.org", 0);
	ck_assert_str_eq(r.targets[0].subaddress, "x");
	r = resolve("bob+x@example.org", 0);
	ck_assert_int_eq(r.status, DIR_RCPT_UNKNOWN);
	s.subaddress_sep[0] = '\0';
	dir_settings_set(env.d, &s);
	r = resolve("bob-x@example.org", 0);
	ck_assert_int_eq(r.status, DIR_RCPT_UNKNOWN);
}
END_TEST

START_TEST(test_resolve_catch_all)
{
	/* other.test catches everything for postmaster@example.org, which does not exist yet:
	 * an unknown local catch-all leaves the recipient unknown (never relayed). */
	struct dir_rcpt r0 = resolve("anything@other.test", 0);
	ck_assert_int_eq(r0.status, DIR_RCPT_UNKNOWN);
	struct dir_principal pm = person("postmaster", "postmaster@example.org", NULL, 0);
	const char *pm_id = test_dir_create(&env, &pm);
	struct dir_rcpt r = resolve("anything@other.test", 0);
	ck_assert_int_eq(r.status, DIR_RCPT_LOCAL);
	ck_assert_str_eq(r.matched, "catch-all");
	ck_assert_str_eq(r.targets[0].principal->id, pm_id);
	/* example.org has none. */
	r = resolve("anything@example.org", 0);
	ck_assert_int_eq(r.status, DIR_RCPT_UNKNOWN);
	/* A catch-all written in a domain alias is the same local address. */
	struct dir_principal *o;
	ck_assert_int_eq(dir_domain_get(env.d, CORE_STR("other.test"), env.a, &o, &err), 0);
	o->catch_all = "PostMaster@example.net";
	ck_assert_int_eq(dir_principal_update(env.d, o, &err), 0);
	r = resolve("x@other.test", 0);
	ck_assert_int_eq(r.status, DIR_RCPT_LOCAL);
	ck_assert_ptr_nonnull(r.targets[0].principal);
	ck_assert_str_eq(r.targets[0].principal->id, pm_id);
	/* Catch-all to a remote address forwards there. */
	struct dir_principal *d;
	ck_assert_int_eq(dir_principal_by_id(env.d, core_str_from_cstr(dom_id), env.a, &d, &err),
			 0);
	d->catch_all = "Archive@Elsewhere.example";
	ck_assert_int_eq(dir_principal_update(env.d, d, &err), 0);
	r = resolve("anything@example.net", 0);
	ck_assert_int_eq(r.status, DIR_RCPT_LOCAL);
	ck_assert_ptr_null(r.targets[0].principal);
	ck_assert_str_eq(r.targets[0].address, "archive@elsewhere.example");
	/* Switched off by the setting. */
	struct dir_settings s = *dir_settings_get(env.d);
	s.catch_all = false;
	dir_settings_set(env.d, &s);
	r = resolve("anything@other.test", 0);
	ck_assert_int_eq(r.status, DIR_RCPT_UNKNOWN);
}
END_TEST

START_TEST(test_resolve_lists)
{
	/* team (list) = alice, bob by name, carol (disabled), an outside address and the
	 * nested list staff; staff = team (a cycle), bob again and ops. */
	const char *team_m[] = {"alice@example.org", "bob", "carol@example.org",
				"Friend@Outside.example", "staff@example.org"};
	struct dir_principal team = collection(DIR_LIST, "team", "team@example.org", team_m, 5);
	test_dir_create(&env, &team);
	struct dir_principal ops = person("ops", "ops@example.org", NULL, 0);
	const char *ops_id = test_dir_create(&env, &ops);
	const char *staff_m[] = {"team@example.org", "bob@example.net", "ops", "ghost@example.org"};
	struct dir_principal staff = collection(DIR_LIST, "staff", "staff@example.org", staff_m, 4);
	test_dir_create(&env, &staff);

	struct dir_rcpt r = resolve("team+x@example.net", 0);
	ck_assert_int_eq(r.status, DIR_RCPT_LOCAL);
	ck_assert_uint_eq(r.n_targets, 4);
	bool seen_alice = false, seen_bob = false, seen_ops = false, seen_friend = false;
	for (size_t i = 0; i < r.n_targets; i++) {
		const struct dir_target *t = &r.targets[i];
		ck_assert_str_eq(t->subaddress, "x");
		if (t->principal == NULL) {
			ck_assert_str_eq(t->address, "friend@outside.example");
			seen_friend = true;
		} else if (strcmp(t->principal->id, alice_id) == 0) {
			seen_alice = true;
		} else if (strcmp(t->principal->id, bob_id) == 0) {
			seen_bob = true;
		} else if (strcmp(t->principal->id, ops_id) == 0) {
			seen_ops = true;
		} else {
			ck_abort_msg("unexpected target %s", t->principal->name);
		}
	}
	ck_assert(seen_alice && seen_bob && seen_ops && seen_friend);
	r = resolve("staff@example.org", 0);
	ck_assert_uint_eq(r.n_targets, 4);
}
END_TEST

START_TEST(test_member_of_nested)
{
	/* devs = alice; eng = devs; all = eng, bob; eng also in devs (a cycle). */
	struct dir_principal devs =
		collection(DIR_GROUP, "devs", NULL, (const char *[]){"alice", "eng"}, 2);
	test_dir_create(&env, &devs);
	struct dir_principal eng = collection(DIR_GROUP, "eng", NULL, (const char *[]){"devs"}, 1);
	test_dir_create(&env, &eng);
	struct dir_principal all =
		collection(DIR_GROUP, "all", "all@example.org", (const char *[]){"eng", "bob"}, 2);
	test_dir_create(&env, &all);
	struct dir_principal *alice;
	ck_assert_int_eq(dir_principal_by_name(env.d, CORE_STR("alice"), env.a, &alice, &err), 0);
	const char **names;
	size_t n;
	ck_assert_int_eq(dir_member_of(env.d, alice, env.a, &names, &n, &err), 0);
	ck_assert_uint_eq(n, 3);
	bool d = false, e = false, a = false;
	for (size_t i = 0; i < n; i++) {
		d |= strcmp(names[i], "devs") == 0;
		e |= strcmp(names[i], "eng") == 0;
		a |= strcmp(names[i], "all") == 0;
	}
	ck_assert(d && e && a);
	struct dir_principal *bob;
	ck_assert_int_eq(dir_principal_by_name(env.d, CORE_STR("bob"), env.a, &bob, &err), 0);
	ck_assert_int_eq(dir_member_of(env.d, bob, env.a, &names, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(names[0], "all");
	/* Mail to a group reaches every member through the nesting, once each. */
	struct dir_rcpt r = resolve("all@example.org", 0);
	ck_assert_uint_eq(r.n_targets, 2);
	/* Renaming a group keeps its memberships: "all" now lists "engineering". */
	struct dir_principal *en;
	ck_assert_int_eq(dir_principal_by_name(env.d, CORE_STR("eng"), env.a, &en, &err), 0);
	en->name = "engineering";
	ck_assert_int_eq(dir_principal_update(env.d, en, &err), 0);
	ck_assert_int_eq(dir_member_of(env.d, alice, env.a, &names, &n, &err), 0);
	ck_assert_uint_eq(n, 3);
	e = false;
	for (size_t i = 0; i < n; i++)
		e |= strcmp(names[i], "engineering") == 0;
	ck_assert(e);
	struct dir_principal *allg;
	ck_assert_int_eq(dir_principal_by_name(env.d, CORE_STR("all"), env.a, &allg, &err), 0);
	ck_assert_str_eq(allg->members[0], "engineering");
	r = resolve("all@example.org", 0);
	ck_assert_uint_eq(r.n_targets, 2);
	/* Removing a membership removes its edge. */
	struct dir_principal *g;
	ck_assert_int_eq(dir_principal_by_name(env.d, CORE_STR("all"), env.a, &g, &err), 0);
	g->n_members = 1; /* eng only */
	ck_assert_int_eq(dir_principal_update(env.d, g, &err), 0);
	ck_assert_int_eq(dir_member_of(env.d, bob, env.a, &names, &n, &err), 0);
	ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_authenticate)
{
	struct dir_principal *p;
	ck_assert_int_eq(dir_password_change(env.d, core_str_from_cstr(alice_id),
					     CORE_STR("correct horse"), &err),
			 0);
	ck_assert_int_eq(dir_principal_by_id(env.d, core_str_from_cstr(alice_id), env.a, &p, &err),
			 0);
	ck_assert_str_eq(dir_password_scheme(p->secret, strlen(p->secret)), "argon2id");
	ck_assert(strncmp(p->scram_sha256, "SCRAM-SHA-256$4096:", 19) == 0);
	ck_assert(strncmp(p->scram_sha1, "SCRAM-SHA-1$4096:", 17) == 0);
	/* The stored SCRAM secret is the one RFC 5802 §3 derives from the password. */
	struct dir_scram_secret s, want;
	ck_assert_int_eq(dir_scram_secret_parse(p->scram_sha256, strlen(p->scram_sha256), &s, &err),
			 0);
	ck_assert_int_eq(dir_scram_secret_derive(DIR_SCRAM_SHA256, "correct horse", 13, s.salt,
						 s.salt_len, s.iterations, &want, &err),
			 0);
	ck_assert(memcmp(s.stored_key, want.stored_key, 32) == 0);

	ck_assert_int_eq(dir_authenticate(env.d, NULL, CORE_STR("alice"), CORE_STR("correct horse"),
					  env.a, &p, &err),
			 1);
	ck_assert_str_eq(p->id, alice_id);
	ck_assert_int_eq(dir_authenticate(env.d, NULL, CORE_STR("AL@example.net"),
					  CORE_STR("correct horse"), env.a, &p, &err),
			 1);
	ck_assert_int_eq(dir_authenticate(env.d, NULL, CORE_STR("alice"), CORE_STR("wrong"), env.a,
					  &p, &err),
			 0);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(
		dir_authenticate(env.d, NULL, CORE_STR("nobody"), CORE_STR("x"), env.a, &p, &err),
		0);
	/* No password set: nothing matches. */
	ck_assert_int_eq(
		dir_authenticate(env.d, NULL, CORE_STR("bob"), CORE_STR(""), env.a, &p, &err), 0);
	/* App passwords. */
	ck_assert_int_eq(dir_app_password_add(env.d, core_str_from_cstr(alice_id), "phone",
					      CORE_STR("app-secret-1"), &err),
			 0);
	ck_assert_int_eq(dir_app_password_add(env.d, core_str_from_cstr(alice_id), "phone",
					      CORE_STR("other"), &err),
			 CORE_ECONFLICT);
	ck_assert_int_eq(dir_authenticate(env.d, NULL, CORE_STR("alice"), CORE_STR("app-secret-1"),
					  env.a, &p, &err),
			 1);
	ck_assert_int_eq(
		dir_app_password_remove(env.d, core_str_from_cstr(alice_id), "phone", &err), 0);
	ck_assert_int_eq(dir_authenticate(env.d, NULL, CORE_STR("alice"), CORE_STR("app-secret-1"),
					  env.a, &p, &err),
			 0);
	ck_assert_int_eq(
		dir_app_password_remove(env.d, core_str_from_cstr(alice_id), "phone", &err),
		CORE_ENOTFOUND);
	/* Disabled: the right password is refused with EPERM. */
	ck_assert_int_eq(
		dir_password_change(env.d, core_str_from_cstr(carol_id), CORE_STR("pw"), &err), 0);
	ck_assert_int_eq(
		dir_authenticate(env.d, NULL, CORE_STR("carol"), CORE_STR("pw"), env.a, &p, &err),
		CORE_EPERM);
	/* Groups never log in and have no password. */
	struct dir_principal g = collection(DIR_GROUP, "g", NULL, NULL, 0);
	const char *gid = test_dir_create(&env, &g);
	ck_assert_int_eq(dir_password_change(env.d, core_str_from_cstr(gid), CORE_STR("x"), &err),
			 CORE_ESYNTAX);
}
END_TEST

START_TEST(test_sasl_plain_and_authorize)
{
	ck_assert_int_eq(
		dir_password_change(env.d, core_str_from_cstr(bob_id), CORE_STR("bobpw"), &err), 0);
	struct dir_principal *b;
	ck_assert_int_eq(dir_principal_by_id(env.d, core_str_from_cstr(bob_id), env.a, &b, &err),
			 0);
	struct dir_sasl ds;
	dir_sasl_init(&ds, env.d, NULL);
	struct sasl_config cfg = {.allow_cleartext_insecure = true};
	struct sasl_conn_info ci = {.tls = true};
	struct core_buf out = CORE_BUF_INIT;
	unsigned offered = sasl_mechs_offered(&cfg, &ds.be, &ci, &out);
	ck_assert(offered & SASL_MECH_BIT(SASL_MECH_SCRAM_SHA_256));
	ck_assert(offered & SASL_MECH_BIT(SASL_MECH_PLAIN));
	/* RFC 4616 §2: authzid NUL authcid NUL passwd. */
	static const struct {
		const char *msg;
		size_t len;
		int status;
	} cases[] = {
		{"\0bob\0bobpw", 10, SASL_OK},
		{"\0bob\0nope", 9, SASL_FAIL},
		{"alice\0bob\0bobpw", 15, SASL_FAIL}, /* bob is no admin */
	};
	for (size_t i = 0; i < CORE_NELEM(cases); i++) {
		core_buf_reset(&out);
		struct sasl_exchange *x = sasl_exchange_new(&cfg, &ds.be, &ci, "PLAIN", 5);
		int st = sasl_exchange_step(x, cases[i].msg, cases[i].len, true, &out);
		ck_assert_msg(st == cases[i].status, "case %zu: %d", i, st);
		if (st == SASL_OK) {
			ck_assert_str_eq(sasl_exchange_result(x)->principal.id, bob_id);
			ck_assert_str_eq(sasl_exchange_result(x)->authzid, "bob");
		}
		sasl_exchange_free(&x);
	}
	/* An admin may act as someone else. */
	b->role = DIR_ROLE_ADMIN;
	ck_assert_int_eq(dir_principal_update(env.d, b, &err), 0);
	struct sasl_exchange *x = sasl_exchange_new(&cfg, &ds.be, &ci, "PLAIN", 5);
	ck_assert_int_eq(sasl_exchange_step(x, "alice\0bob\0bobpw", 15, true, &out), SASL_OK);
	ck_assert_str_eq(sasl_exchange_result(x)->authzid, "alice");
	sasl_exchange_free(&x);
	/* SCRAM secrets come from the directory. */
	struct sasl_principal sp;
	struct dir_scram_secret sec;
	struct core_arena *a = core_arena_new(0);
	ck_assert_int_eq(
		ds.be.scram_lookup(ds.be.ctx, DIR_SCRAM_SHA1, CORE_STR("bob"), a, &sec, &sp, &err),
		0);
	ck_assert_uint_eq(sec.key_len, 20);
	ck_assert_str_eq(sp.id, bob_id);
	ck_assert_int_eq(ds.be.scram_lookup(ds.be.ctx, DIR_SCRAM_SHA1, CORE_STR("ghost"), a, &sec,
					    &sp, &err),
			 CORE_ENOTFOUND);
	core_arena_free(&a);
	core_buf_fini(&out);
}
END_TEST

START_TEST(test_update_and_remove)
{
	struct dir_principal *p;
	ck_assert_int_eq(dir_principal_by_id(env.d, core_str_from_cstr(alice_id), env.a, &p, &err),
			 0);
	/* Swap alias al@ for ally@; al@ becomes free, ally@ taken. */
	p->aliases = (const char *[]){"ally@example.org"};
	p->n_aliases = 1;
	p->quota_bytes = 1u << 30;
	p->quota_messages = 5000;
	p->description = "Alice Liddell";
	ck_assert_int_eq(dir_principal_update(env.d, p, &err), 0);
	ck_assert_int_eq(
		dir_principal_by_address(env.d, CORE_STR("al@example.org"), env.a, &p, &err),
		CORE_ENOTFOUND);
	ck_assert_int_eq(
		dir_principal_by_address(env.d, CORE_STR("ally@example.org"), env.a, &p, &err), 0);
	ck_assert_uint_eq(p->quota_bytes, 1u << 30);
	ck_assert_uint_eq(p->quota_messages, 5000);
	ck_assert_str_eq(p->description, "Alice Liddell");
	/* Taking bob's address is refused and changes nothing. */
	p->address = "bob@example.org";
	ck_assert_int_eq(dir_principal_update(env.d, p, &err), CORE_ECONFLICT);
	ck_assert_int_eq(
		dir_principal_by_address(env.d, CORE_STR("alice@example.org"), env.a, &p, &err), 0);
	p->type = DIR_GROUP;
	ck_assert_int_eq(dir_principal_update(env.d, p, &err), CORE_ESYNTAX);
	/* A domain with addresses stays. */
	ck_assert_int_eq(dir_principal_remove(env.d, core_str_from_cstr(dom_id), &err),
			 CORE_ECONFLICT);
	ck_assert_int_eq(dir_principal_remove(env.d, core_str_from_cstr(alice_id), &err), 0);
	ck_assert_int_eq(dir_principal_remove(env.d, core_str_from_cstr(alice_id), &err),
			 CORE_ENOTFOUND);
	ck_assert_int_eq(dir_principal_by_name(env.d, CORE_STR("alice"), env.a, &p, &err),
			 CORE_ENOTFOUND);
	/* The address is free again, and a new principal gets a new id. */
	struct dir_principal again = person("alice", "alice@example.org", NULL, 0);
	const char *nid = test_dir_create(&env, &again);
	ck_assert_str_ne(nid, alice_id);
	ck_assert_int_eq(dir_principal_remove(env.d, core_str_from_cstr(nid), &err), 0);
	ck_assert_int_eq(dir_principal_remove(env.d, core_str_from_cstr(bob_id), &err), 0);
	ck_assert_int_eq(dir_principal_remove(env.d, core_str_from_cstr(carol_id), &err), 0);
	ck_assert_int_eq(dir_principal_remove(env.d, core_str_from_cstr(dom_id), &err), 0);
	ck_assert_int_eq(dir_is_local_domain(env.d, CORE_STR("example.net"), &err), 0);
}
END_TEST

static int count_fn(void *arg, const struct dir_principal *p)
{
	struct core_buf *b = arg;
	core_buf_printf(b, "%s,", p->name);
	return 0;
}

START_TEST(test_list)
{
	struct core_buf b = CORE_BUF_INIT;
	ck_assert_int_eq(dir_principal_list(env.d, DIR_INDIVIDUAL, env.a, count_fn, &b, &err), 0);
	ck_assert_str_eq(core_buf_cstr(&b), "alice,bob,carol,");
	core_buf_reset(&b);
	/* Each domain once, not once per domain alias. */
	ck_assert_int_eq(dir_principal_list(env.d, DIR_DOMAIN, env.a, count_fn, &b, &err), 0);
	ck_assert_str_eq(core_buf_cstr(&b), "example.org,other.test,");
	core_buf_fini(&b);
}
END_TEST

START_TEST(test_corrupt_records)
{
	/* A damaged record is an I/O error, never a crash or an overread. */
	uint64_t id;
	ck_assert_int_eq(core_str_to_u64(core_str_from_cstr(alice_id), &id), 0);
	uint8_t key[14] = {'d', 'i', 'r', '/', 'p', '/'};
	for (int i = 0; i < 8; i++)
		key[6 + i] = (uint8_t)(id >> (56 - 8 * i));
	static const struct {
		const char *v;
		size_t n;
	} bad[] = {
		{"", 0},
		{"\x02", 1}, /* unknown version */
		{"\x01\x02\x00\x00\x00\x09"
		 "ab",
		 8},                                 /* length past the end */
		{"\x01\x02\x00\x00", 4},             /* truncated header */
		{"\x01\x01\x00\x00\x00\x01\x09", 7}, /* bad type */
		{"\x01\x0b\x00\x00\x00\x01h", 7},    /* app hash without label */
		{"\x01\x0c\x00\x00\x00\x02"
		 "ab",
		 8},                                 /* quota not 8 bytes */
		{"\x01\x01\x00\x00\x00\x01\x00", 7}, /* no name */
		{"\x01\xff\xff\xff\xff\xff", 6},     /* huge length */
	};
	for (size_t i = 0; i < CORE_NELEM(bad); i++) {
		struct store_txn *t;
		ck_assert_int_eq(store_txn_begin(env.data, STORE_TXN_WRITE, &t, &err), 0);
		ck_assert_int_eq(store_txn_put(t, key, sizeof(key), bad[i].v, bad[i].n, &err), 0);
		ck_assert_int_eq(store_txn_commit(&t, &err), 0);
		struct dir_principal *p;
		int r = dir_principal_by_id(env.d, core_str_from_cstr(alice_id), env.a, &p, &err);
		ck_assert_msg(r == CORE_EIO, "case %zu: %s", i, core_err_name(r));
		r = dir_principal_by_name(env.d, CORE_STR("alice"), env.a, &p, &err);
		ck_assert_int_eq(r, CORE_EIO);
	}
}
END_TEST

struct race {
	struct dir *d;
	int rc;
	int idx;
};

static void *race_fn(void *arg)
{
	struct race *r = arg;
	struct core_arena *a = core_arena_new(0);
	struct core_error e;
	core_error_clear(&e);
	char name[16];
	snprintf(name, sizeof(name), "racer%d", r->idx);
	struct dir_principal p = person(name, "prize@example.org", NULL, 0);
	const char *id;
	r->rc = dir_principal_create(r->d, &p, a, &id, &e);
	core_arena_free(&a);
	return NULL;
}

START_TEST(test_concurrent_create_one_wins)
{
	/* ARCHITECTURE.md §4: uniqueness is a point key, so of racing creates of one address
	 * exactly one commits. */
	struct race r[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		r[i] = (struct race){.d = env.d, .idx = i};
		pthread_create(&th[i], NULL, race_fn, &r[i]);
	}
	int ok = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		if (r[i].rc == 0)
			ok++;
		else
			ck_assert_msg(r[i].rc == CORE_ECONFLICT || r[i].rc == CORE_ETEMP,
				      "racer %d: %s", i, core_err_name(r[i].rc));
	}
	ck_assert_int_eq(ok, 1);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("dir_internal");
	TCase *tc = tcase_create("internal");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_ids_stable_and_numeric);
	tcase_add_test(tc, test_lookups);
	tcase_add_test(tc, test_uniqueness);
	tcase_add_test(tc, test_resolve_direct);
	tcase_add_test(tc, test_resolve_catch_all);
	tcase_add_test(tc, test_resolve_lists);
	tcase_add_test(tc, test_member_of_nested);
	tcase_add_test(tc, test_authenticate);
	tcase_add_test(tc, test_sasl_plain_and_authorize);
	tcase_add_test(tc, test_update_and_remove);
	tcase_add_test(tc, test_list);
	tcase_add_test(tc, test_corrupt_records);
	tcase_add_test(tc, test_concurrent_create_one_wins);
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
