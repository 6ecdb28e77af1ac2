/*
 * dir_cli.c: the directory commands of the staunch CLI (docs/directory.md, "Command line"):
 *   domain add|list|remove, account add|list|show|passwd|disable|enable|remove|app-password,
 *   alias add|remove, group and list add|list|show|add-member|remove-member|remove, dns.
 * server/ parses the global options, opens the stores and the directory, and hands the rest
 * of the command line to dir_cli_run().
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "directory/dir_int.h"
#include "store/store.h"

/* ------------------------------------------------------------------------------------ */
/* Argument parsing                                                                     */
/* ------------------------------------------------------------------------------------ */

#define CLI_MAX_POS 4

/* Options a command accepts: name -> takes a value; repeated values collect in a list. */
struct cli_args {
	const char *pos[CLI_MAX_POS];
	int n_pos;
	const char *password, *quota, *quota_messages, *description, *address, *catch_all;
	const char *hostname, *cert;
	struct dir_strv aliases, members;
	bool admin, user, pop3, dkim;
};

static int usage_err(const struct dir_cli *c, const char *fmt, const char *arg)
{
	fprintf(c->errf, "staunch: ");
	fprintf(c->errf, fmt, arg != NULL ? arg : "");
	fprintf(c->errf, " (see: staunch help directory)\n");
	return CORE_ESYNTAX;
}

static int parse_args(const struct dir_cli *c, struct core_arena *a, int argc, char **argv,
		      int first, struct cli_args *o)
{
	memset(o, 0, sizeof(*o));
	o->dkim = true;
	static const struct {
		const char *name;
		size_t off;
	} valued[] = {
		{"--password", offsetof(struct cli_args, password)},
		{"--quota", offsetof(struct cli_args, quota)},
		{"--quota-messages", offsetof(struct cli_args, quota_messages)},
		{"--description", offsetof(struct cli_args, description)},
		{"--address", offsetof(struct cli_args, address)},
		{"--catch-all", offsetof(struct cli_args, catch_all)},
		{"--hostname", offsetof(struct cli_args, hostname)},
		{"--cert", offsetof(struct cli_args, cert)},
	};
	for (int i = first; i < argc; i++) {
		const char *s = argv[i];
		if (strcmp(s, "--admin") == 0) {
			o->admin = true;
			continue;
		}
		if (strcmp(s, "--user") == 0) {
			o->user = true;
			continue;
		}
		if (strcmp(s, "--pop3") == 0) {
			o->pop3 = true;
			continue;
		}
		if (strcmp(s, "--no-dkim") == 0) {
			o->dkim = false;
			continue;
		}
		if (strcmp(s, "--alias") == 0 || strcmp(s, "--member") == 0) {
			if (i + 1 >= argc)
				return usage_err(c, "%s needs a value", s);
			dir_strv_push(a, s[2] == 'a' ? &o->aliases : &o->members, argv[++i]);
			continue;
		}
		bool found = false;
		for (size_t k = 0; k < CORE_NELEM(valued); k++)
			if (strcmp(s, valued[k].name) == 0) {
				if (i + 1 >= argc)
					return usage_err(c, "%s needs a value", s);
				*(const char **)((char *)o + valued[k].off) = argv[++i];
				found = true;
			}
		if (found)
			continue;
		if (s[0] == '-' && s[1] == '-')
			return usage_err(c, "unknown option %s", s);
		if (o->n_pos == CLI_MAX_POS)
			return usage_err(c, "too many arguments at %s", s);
		o->pos[o->n_pos++] = s;
	}
	return 0;
}

static int need_pos(const struct dir_cli *c, const struct cli_args *o, int n, const char *what)
{
	if (o->n_pos != n)
		return usage_err(c, "usage: %s", what);
	return 0;
}

static int fail(const struct dir_cli *c, int r, const struct core_error *err)
{
	fprintf(c->errf, "staunch: %s\n", err->msg[0] ? err->msg : core_err_name(r));
	return r;
}

/* A principal of a type by name (or address). */
static int find(const struct dir_cli *c, struct core_arena *a, const char *name, enum dir_type type,
		struct dir_principal **out, struct core_error *err)
{
	int r = dir_principal_by_name(c->d, core_str_from_cstr(name), a, out, err);
	if (r == CORE_ENOTFOUND && strchr(name, '@') != NULL) {
		core_error_clear(err);
		r = dir_principal_by_address(c->d, core_str_from_cstr(name), a, out, err);
	}
	if (r == 0 && (*out)->type != type)
		r = CORE_ENOTFOUND;
	if (r == CORE_ENOTFOUND)
		core_error_set(err, CORE_ENOTFOUND, NULL, "no %s named %s", dir_type_str(type),
			       name);
	return r;
}

static void print_principal(FILE *f, const struct dir_principal *p)
{
	fprintf(f, "id: %s\ntype: %s\nname: %s\n", p->id, dir_type_str(p->type), p->name);
	if (p->description != NULL)
		fprintf(f, "description: %s\n", p->description);
	if (p->address != NULL)
		fprintf(f, "address: %s\n", p->address);
	for (size_t i = 0; i < p->n_aliases; i++)
		fprintf(f, "%s: %s\n", p->type == DIR_DOMAIN ? "domain-alias" : "alias",
			p->aliases[i]);
	for (size_t i = 0; i < p->n_members; i++)
		fprintf(f, "member: %s\n", p->members[i]);
	if (p->catch_all != NULL)
		fprintf(f, "catch-all: %s\n", p->catch_all);
	if (p->type == DIR_INDIVIDUAL) {
		fprintf(f, "role: %s\n", p->role == DIR_ROLE_ADMIN ? "admin" : "user");
		fprintf(f, "disabled: %s\n", p->disabled ? "yes" : "no");
		fprintf(f, "password: %s\n",
			p->secret != NULL ? dir_password_scheme(p->secret, strlen(p->secret))
					  : "none");
		if (p->quota_bytes)
			fprintf(f, "quota: %llu bytes\n", (unsigned long long)p->quota_bytes);
		if (p->quota_messages)
			fprintf(f, "quota-messages: %llu\n", (unsigned long long)p->quota_messages);
		for (size_t i = 0; i < p->n_app_passwords; i++)
			fprintf(f, "app-password: %s\n", p->app_passwords[i].label);
	}
}

struct list_print {
	FILE *f;
};

static int list_print_fn(void *arg, const struct dir_principal *p)
{
	struct list_print *lp = arg;
	fprintf(lp->f, "%s", p->name);
	if (p->address != NULL && strcmp(p->address, p->name) != 0)
		fprintf(lp->f, " <%s>", p->address);
	if (p->type == DIR_DOMAIN)
		for (size_t i = 0; i < p->n_aliases; i++)
			fprintf(lp->f, " alias:%s", p->aliases[i]);
	if (p->disabled)
		fprintf(lp->f, " (disabled)");
	fputc('\n', lp->f);
	return 0;
}

static int do_list(const struct dir_cli *c, struct core_arena *a, enum dir_type t,
		   struct core_error *err)
{
	struct list_print lp = {c->out};
	int r = dir_principal_list(c->d, t, a, list_print_fn, &lp, err);
	return r < 0 ? fail(c, r, err) : 0;
}

static const char **strv_plus(struct core_arena *a, const char *const *v, size_t n, const char *add)
{
	const char **nv = core_arena_alloc(a, (n + 1) * sizeof(*nv));
	if (n)
		memcpy(nv, v, n * sizeof(*nv));
	nv[n] = add;
	return nv;
}

/* Remove every entry equal (case-insensitively) to s; returns how many went. */
static size_t strv_minus(const char **v, size_t *n, const char *s)
{
	size_t k = 0, gone = 0;
	for (size_t i = 0; i < *n; i++) {
		if (core_strcasecmp_ascii(v[i], s) == 0)
			gone++;
		else
			v[k++] = v[i];
	}
	*n = k;
	return gone;
}

/* ------------------------------------------------------------------------------------ */
/* domain                                                                               */
/* ------------------------------------------------------------------------------------ */

static void selector_date(const struct dir_cli *c, char out[16])
{
	if (c->selector_date != NULL && strlen(c->selector_date) == 6) {
		memcpy(out, c->selector_date, 7);
		return;
	}
	time_t now = time(NULL);
	struct core_tm tm;
	if (core_time_to_tm(now, 0, &tm) < 0)
		tm.year = 2000, tm.mon = 1;
	snprintf(out, 16, "%04u%02u", (unsigned)tm.year % 10000u, (unsigned)tm.mon % 100u);
}

static int domain_add(const struct dir_cli *c, struct core_arena *a, const struct cli_args *o,
		      struct core_error *err)
{
	struct dir_principal p = {.type = DIR_DOMAIN,
				  .name = o->pos[1],
				  .aliases = o->aliases.v,
				  .n_aliases = o->aliases.n,
				  .catch_all = o->catch_all,
				  .description = o->description};
	const char *id;
	int r = dir_principal_create(c->d, &p, a, &id, err);
	if (r < 0)
		return fail(c, r, err);
	fprintf(c->out, "domain %s added (id %s)\n", o->pos[1], id);
	if (!o->dkim || c->data == NULL)
		return 0;
	/* DKIM keys: one Ed25519 (RFC 8463) and one RSA-2048 (RFC 6376 §3.3.3), selectors
	 * <YYYYMM>e and <YYYYMM>r so a later rotation gets new names. */
	char date[16];
	selector_date(c, date);
	static const struct {
		enum dir_dkim_alg alg;
		char suffix;
	} algs[] = {{DIR_DKIM_ED25519, 'e'}, {DIR_DKIM_RSA, 'r'}};
	for (size_t i = 0; i < CORE_NELEM(algs); i++) {
		struct core_buf pem = CORE_BUF_INIT, pub = CORE_BUF_INIT;
		char sel[32];
		snprintf(sel, sizeof(sel), "%s%c", date, algs[i].suffix);
		r = dir_dkim_keygen(algs[i].alg, &pem, &pub, err);
		if (r == 0)
			r = dir_dkim_key_put(c->data, p.name, sel, pem.p, pem.len, err);
		core_buf_fini_wipe(&pem);
		core_buf_fini(&pub);
		if (r < 0)
			return fail(c, r, err);
		fprintf(c->out, "DKIM key %s (%s) created\n", sel,
			algs[i].alg == DIR_DKIM_ED25519 ? "ed25519" : "rsa-2048");
	}
	fprintf(c->out, "publish the records printed by: staunch dns %s\n", o->pos[1]);
	return 0;
}

static int cmd_domain(const struct dir_cli *c, struct core_arena *a, const struct cli_args *o,
		      struct core_error *err)
{
	const char *verb = o->n_pos > 0 ? o->pos[0] : "";
	int r;
	if (strcmp(verb, "add") == 0) {
		if ((r = need_pos(c, o, 2,
				  "staunch domain add DOMAIN [--alias D]... "
				  "[--catch-all ADDR] [--no-dkim]")) < 0)
			return r;
		return domain_add(c, a, o, err);
	}
	if (strcmp(verb, "list") == 0)
		return do_list(c, a, DIR_DOMAIN, err);
	if (strcmp(verb, "show") == 0 || strcmp(verb, "remove") == 0) {
		if ((r = need_pos(c, o, 2, "staunch domain show|remove DOMAIN")) < 0)
			return r;
		struct dir_principal *p;
		r = dir_domain_get(c->d, core_str_from_cstr(o->pos[1]), a, &p, err);
		if (r < 0)
			return fail(c, r, err);
		if (strcmp(verb, "show") == 0) {
			print_principal(c->out, p);
			return 0;
		}
		if ((r = dir_principal_remove(c->d, core_str_from_cstr(p->id), err)) < 0)
			return fail(c, r, err);
		if (c->data != NULL && (r = dir_dkim_key_remove_all(c->data, p->name, err)) < 0)
			return fail(c, r, err);
		fprintf(c->out, "domain %s removed\n", p->name);
		return 0;
	}
	return usage_err(c, "usage: staunch domain add|list|show|remove ...%s", NULL);
}

/* ------------------------------------------------------------------------------------ */
/* account                                                                              */
/* ------------------------------------------------------------------------------------ */

static int parse_quota(const struct dir_cli *c, const struct cli_args *o, uint64_t *bytes,
		       uint64_t *msgs)
{
	if (o->quota != NULL && core_conf_parse_size(o->quota, bytes) < 0)
		return usage_err(c, "bad --quota %s (e.g. 1G, 500M)", o->quota);
	if (o->quota_messages != NULL &&
	    core_str_to_u64(core_str_from_cstr(o->quota_messages), msgs) < 0)
		return usage_err(c, "bad --quota-messages %s", o->quota_messages);
	return 0;
}

static int account_add(const struct dir_cli *c, struct core_arena *a, const struct cli_args *o,
		       struct core_error *err)
{
	const char *name = o->pos[1];
	struct dir_principal p = {.type = DIR_INDIVIDUAL,
				  .name = name,
				  .address = o->address,
				  .aliases = o->aliases.v,
				  .n_aliases = o->aliases.n,
				  .description = o->description,
				  .role = o->admin ? DIR_ROLE_ADMIN : DIR_ROLE_USER};
	/* "staunch account add alice@example.org": the name is also the address. */
	if (p.address == NULL && strchr(name, '@') != NULL)
		p.address = name;
	int r = parse_quota(c, o, &p.quota_bytes, &p.quota_messages);
	if (r < 0)
		return r;
	const char *id;
	if ((r = dir_principal_create(c->d, &p, a, &id, err)) < 0)
		return fail(c, r, err);
	if (o->password != NULL &&
	    (r = dir_password_change(c->d, core_str_from_cstr(id), core_str_from_cstr(o->password),
				     err)) < 0) {
		struct core_error e2;
		dir_principal_remove(c->d, core_str_from_cstr(id), &e2);
		return fail(c, r, err);
	}
	fprintf(c->out, "account %s added (id %s)\n", name, id);
	return 0;
}

static int cmd_account(const struct dir_cli *c, struct core_arena *a, const struct cli_args *o,
		       struct core_error *err)
{
	const char *verb = o->n_pos > 0 ? o->pos[0] : "";
	int r;
	if (strcmp(verb, "add") == 0) {
		if ((r = need_pos(c, o, 2,
				  "staunch account add NAME [--password PW] "
				  "[--quota SIZE] [--alias ADDR]...")) < 0)
			return r;
		return account_add(c, a, o, err);
	}
	if (strcmp(verb, "list") == 0)
		return do_list(c, a, DIR_INDIVIDUAL, err);
	if (strcmp(verb, "app-password") == 0) {
		if (o->n_pos != 4 ||
		    (strcmp(o->pos[1], "add") != 0 && strcmp(o->pos[1], "remove") != 0))
			return usage_err(c,
					 "usage: staunch account app-password add|remove NAME "
					 "LABEL [--password PW]%s",
					 NULL);
		struct dir_principal *p;
		if ((r = find(c, a, o->pos[2], DIR_INDIVIDUAL, &p, err)) < 0)
			return fail(c, r, err);
		if (strcmp(o->pos[1], "add") == 0) {
			if (o->password == NULL)
				return usage_err(c, "app-password add needs --password%s", NULL);
			r = dir_app_password_add(c->d, core_str_from_cstr(p->id), o->pos[3],
						 core_str_from_cstr(o->password), err);
		} else {
			r = dir_app_password_remove(c->d, core_str_from_cstr(p->id), o->pos[3],
						    err);
		}
		if (r < 0)
			return fail(c, r, err);
		fprintf(c->out, "app password %s of %s %s\n", o->pos[3], p->name,
			strcmp(o->pos[1], "add") == 0 ? "added" : "removed");
		return 0;
	}
	static const char *const one[] = {"show", "passwd", "disable", "enable", "remove", "set"};
	bool known = false;
	for (size_t i = 0; i < CORE_NELEM(one); i++)
		known |= strcmp(verb, one[i]) == 0;
	if (!known)
		return usage_err(c,
				 "usage: staunch account add|list|show|passwd|set|disable|"
				 "enable|remove|app-password ...%s",
				 NULL);
	if ((r = need_pos(c, o, 2, "staunch account VERB NAME")) < 0)
		return r;
	struct dir_principal *p;
	if ((r = find(c, a, o->pos[1], DIR_INDIVIDUAL, &p, err)) < 0)
		return fail(c, r, err);
	struct core_str id = core_str_from_cstr(p->id);
	if (strcmp(verb, "show") == 0) {
		print_principal(c->out, p);
		const char **groups;
		size_t n;
		if (dir_member_of(c->d, p, a, &groups, &n, err) == 0)
			for (size_t i = 0; i < n; i++)
				fprintf(c->out, "member-of: %s\n", groups[i]);
		return 0;
	}
	if (strcmp(verb, "passwd") == 0) {
		if (o->password == NULL)
			return usage_err(c, "passwd needs --password%s", NULL);
		r = dir_password_change(c->d, id, core_str_from_cstr(o->password), err);
	} else if (strcmp(verb, "remove") == 0) {
		r = dir_principal_remove(c->d, id, err);
	} else {
		if (strcmp(verb, "disable") == 0 || strcmp(verb, "enable") == 0)
			p->disabled = strcmp(verb, "disable") == 0;
		if ((r = parse_quota(c, o, &p->quota_bytes, &p->quota_messages)) < 0)
			return r;
		if (o->description != NULL)
			p->description = o->description;
		if (o->admin || o->user)
			p->role = o->admin ? DIR_ROLE_ADMIN : DIR_ROLE_USER;
		if (o->address != NULL)
			p->address = o->address;
		r = dir_principal_update(c->d, p, err);
	}
	if (r < 0)
		return fail(c, r, err);
	fprintf(c->out, "account %s: %s done\n", p->name, verb);
	return 0;
}

/* ------------------------------------------------------------------------------------ */
/* alias                                                                                */
/* ------------------------------------------------------------------------------------ */

static int cmd_alias(const struct dir_cli *c, struct core_arena *a, const struct cli_args *o,
		     struct core_error *err)
{
	const char *verb = o->n_pos > 0 ? o->pos[0] : "";
	int r;
	struct dir_principal *p;
	if (strcmp(verb, "add") == 0) {
		if ((r = need_pos(c, o, 3, "staunch alias add ADDRESS NAME")) < 0)
			return r;
		r = dir_principal_by_name(c->d, core_str_from_cstr(o->pos[2]), a, &p, err);
		if (r == CORE_ENOTFOUND) {
			core_error_clear(err);
			r = dir_principal_by_address(c->d, core_str_from_cstr(o->pos[2]), a, &p,
						     err);
		}
		if (r < 0)
			return fail(c, r, err);
		if (p->type == DIR_DOMAIN)
			return usage_err(c, "%s is a domain: use domain aliases", o->pos[2]);
		p->aliases = strv_plus(a, p->aliases, p->n_aliases, o->pos[1]);
		p->n_aliases++;
		if ((r = dir_principal_update(c->d, p, err)) < 0)
			return fail(c, r, err);
		fprintf(c->out, "alias %s -> %s added\n", o->pos[1], p->name);
		return 0;
	}
	if (strcmp(verb, "remove") == 0) {
		if ((r = need_pos(c, o, 2, "staunch alias remove ADDRESS")) < 0)
			return r;
		if ((r = dir_principal_by_address(c->d, core_str_from_cstr(o->pos[1]), a, &p,
						  err)) < 0)
			return fail(c, r, err);
		const char *n = dir_address_normalize(a, core_str_from_cstr(o->pos[1]), err);
		if (n == NULL || strv_minus(p->aliases, &p->n_aliases, n) == 0) {
			core_error_set(err, CORE_ENOTFOUND, NULL,
				       "%s is the primary address of %s, not an alias", o->pos[1],
				       p->name);
			return fail(c, CORE_ENOTFOUND, err);
		}
		if ((r = dir_principal_update(c->d, p, err)) < 0)
			return fail(c, r, err);
		fprintf(c->out, "alias %s removed\n", o->pos[1]);
		return 0;
	}
	return usage_err(c, "usage: staunch alias add|remove ...%s", NULL);
}

/* ------------------------------------------------------------------------------------ */
/* group and list                                                                       */
/* ------------------------------------------------------------------------------------ */

static int cmd_collection(const struct dir_cli *c, struct core_arena *a, enum dir_type t,
			  const struct cli_args *o, struct core_error *err)
{
	const char *noun = dir_type_str(t);
	const char *verb = o->n_pos > 0 ? o->pos[0] : "";
	int r;
	if (strcmp(verb, "add") == 0) {
		if (o->n_pos != 2)
			return usage_err(c,
					 "usage: staunch %s add NAME [--address ADDR] "
					 "[--member M]...",
					 noun);
		struct dir_principal p = {.type = t,
					  .name = o->pos[1],
					  .address = o->address,
					  .aliases = o->aliases.v,
					  .n_aliases = o->aliases.n,
					  .members = o->members.v,
					  .n_members = o->members.n,
					  .description = o->description};
		/* A list named by its address: "staunch list add team@example.org". */
		const char *at = strchr(o->pos[1], '@');
		if (at != NULL) {
			if (p.address == NULL)
				p.address = o->pos[1];
			p.name = core_arena_strndup(a, o->pos[1], (size_t)(at - o->pos[1]));
		}
		const char *id;
		if ((r = dir_principal_create(c->d, &p, a, &id, err)) < 0)
			return fail(c, r, err);
		fprintf(c->out, "%s %s added (id %s)\n", noun, p.name, id);
		return 0;
	}
	if (strcmp(verb, "list") == 0)
		return do_list(c, a, t, err);
	if (strcmp(verb, "show") == 0 || strcmp(verb, "remove") == 0) {
		if (o->n_pos != 2)
			return usage_err(c, "usage: staunch %s show|remove NAME", noun);
		struct dir_principal *p;
		if ((r = find(c, a, o->pos[1], t, &p, err)) < 0)
			return fail(c, r, err);
		if (strcmp(verb, "show") == 0) {
			print_principal(c->out, p);
			return 0;
		}
		if ((r = dir_principal_remove(c->d, core_str_from_cstr(p->id), err)) < 0)
			return fail(c, r, err);
		fprintf(c->out, "%s %s removed\n", noun, p->name);
		return 0;
	}
	if (strcmp(verb, "add-member") == 0 || strcmp(verb, "remove-member") == 0) {
		if (o->n_pos != 3)
			return usage_err(
				c, "usage: staunch %s add-member|remove-member NAME MEMBER", noun);
		struct dir_principal *p;
		if ((r = find(c, a, o->pos[1], t, &p, err)) < 0)
			return fail(c, r, err);
		if (verb[0] == 'a') {
			p->members = strv_plus(a, p->members, p->n_members, o->pos[2]);
			p->n_members++;
		} else if (strv_minus(p->members, &p->n_members, o->pos[2]) == 0) {
			core_error_set(err, CORE_ENOTFOUND, NULL, "%s is not a member of %s",
				       o->pos[2], p->name);
			return fail(c, CORE_ENOTFOUND, err);
		}
		if ((r = dir_principal_update(c->d, p, err)) < 0)
			return fail(c, r, err);
		fprintf(c->out, "%s %s: %s %s\n", noun, p->name, verb, o->pos[2]);
		return 0;
	}
	return usage_err(c, "usage: staunch %s add|list|show|add-member|remove-member|remove ...",
			 noun);
}

/* ------------------------------------------------------------------------------------ */
/* dns                                                                                  */
/* ------------------------------------------------------------------------------------ */

struct dkim_collect {
	struct core_arena *a;
	struct dir_dkim_pub *v;
	size_t n;
	struct core_error *err;
};

static int dkim_collect_fn(void *arg, const char *selector, const char *pem, size_t len)
{
	struct dkim_collect *dc = arg;
	if (dc->n >= 16)
		return 0;
	struct core_buf p = CORE_BUF_INIT;
	enum dir_dkim_alg alg;
	int r = dir_dkim_public(pem, len, &alg, &p, dc->err);
	if (r == 0) {
		dc->v[dc->n].selector = core_arena_strdup(dc->a, selector);
		dc->v[dc->n].alg = alg;
		dc->v[dc->n].p = core_arena_strdup(dc->a, core_buf_cstr(&p));
		dc->n++;
	}
	core_buf_fini(&p);
	return r < 0 ? r : 0;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	struct core_buf b = CORE_BUF_INIT;
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0 && b.len < 1024 * 1024)
		core_buf_append(&b, buf, n);
	fclose(f);
	return core_buf_detach(&b, len);
}

static int cmd_dns(const struct dir_cli *c, struct core_arena *a, const struct cli_args *o,
		   struct core_error *err)
{
	if (o->n_pos != 1)
		return usage_err(c,
				 "usage: staunch dns DOMAIN [--hostname HOST] [--cert PEM] "
				 "[--pop3]%s",
				 NULL);
	const char *dom = dir_lower_dup(a, core_str_from_cstr(o->pos[0]));
	int r = dir_is_local_domain(c->d, core_str_from_cstr(dom), err);
	if (r < 0)
		return fail(c, r, err);
	if (r == 0)
		fprintf(c->errf, "staunch: warning: %s is not a local domain\n", dom);
	struct dir_dns_input in = {.domain = dom, .pop3 = o->pop3 || c->pop3};
	in.hostname = o->hostname ? o->hostname : c->hostname;
	if (in.hostname == NULL)
		in.hostname = core_arena_printf(a, "mail.%s", dom);
	struct dkim_collect dc = {.a = a, .err = err};
	dc.v = core_arena_zalloc(a, 16 * sizeof(*dc.v));
	if (c->data != NULL && (r = dir_dkim_key_list(c->data, dom, dkim_collect_fn, &dc, err)) < 0)
		return fail(c, r, err);
	in.dkim = dc.v;
	in.n_dkim = dc.n;
	const char *cert = o->cert ? o->cert : c->cert_path;
	char *pem = NULL;
	if (cert != NULL) {
		pem = slurp(cert, &in.cert_pem_len);
		if (pem == NULL) {
			fprintf(c->errf, "staunch: cannot read %s: no TLSA records\n", cert);
		} else {
			in.cert_pem = pem;
		}
	}
	struct core_buf out = CORE_BUF_INIT;
	r = dir_dns_records(&in, &out, err);
	free(pem);
	if (r < 0) {
		core_buf_fini(&out);
		return fail(c, r, err);
	}
	fwrite(out.p, 1, out.len, c->out);
	core_buf_fini(&out);
	return 0;
}

/* ------------------------------------------------------------------------------------ */

void dir_cli_usage(FILE *f)
{
	fputs("  domain add DOMAIN [--alias D]... [--catch-all ADDR] [--no-dkim]\n"
	      "  domain list | show DOMAIN | remove DOMAIN\n"
	      "  account add NAME [--password PW] [--address ADDR] [--alias ADDR]...\n"
	      "              [--quota SIZE] [--quota-messages N] [--admin] [--description TEXT]\n"
	      "  account list | show NAME | passwd NAME --password PW | disable NAME\n"
	      "  account enable NAME | remove NAME | set NAME [--quota ..] [--admin|--user]\n"
	      "  account app-password add|remove NAME LABEL [--password PW]\n"
	      "  alias add ADDRESS NAME | alias remove ADDRESS\n"
	      "  group|list add NAME [--address ADDR] [--member M]...\n"
	      "  group|list list | show NAME | add-member NAME M | remove-member NAME M | remove "
	      "NAME\n"
	      "  dns DOMAIN [--hostname HOST] [--cert PEM] [--pop3]\n",
	      f);
}

int dir_cli_run(const struct dir_cli *c, int argc, char **argv)
{
	if (argc < 1)
		return usage_err(c, "missing command%s", NULL);
	struct core_arena *a = core_arena_new_clean(0);
	struct core_error err;
	core_error_clear(&err);
	struct cli_args o;
	int r = parse_args(c, a, argc, argv, 1, &o);
	if (r == 0) {
		const char *noun = argv[0];
		if (strcmp(noun, "domain") == 0)
			r = cmd_domain(c, a, &o, &err);
		else if (strcmp(noun, "account") == 0)
			r = cmd_account(c, a, &o, &err);
		else if (strcmp(noun, "alias") == 0)
			r = cmd_alias(c, a, &o, &err);
		else if (strcmp(noun, "group") == 0)
			r = cmd_collection(c, a, DIR_GROUP, &o, &err);
		else if (strcmp(noun, "list") == 0)
			r = cmd_collection(c, a, DIR_LIST, &o, &err);
		else if (strcmp(noun, "dns") == 0)
			r = cmd_dns(c, a, &o, &err);
		else
			r = usage_err(c, "unknown command %s", noun);
	}
	core_arena_free(&a);
	return r;
}
