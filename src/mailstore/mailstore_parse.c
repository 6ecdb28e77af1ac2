/*
 * mailstore_parse.c: the fields of a message stored at delivery, so that listing a mailbox,
 * IMAP ENVELOPE / BODYSTRUCTURE (RFC 9051 §7.5.2) and the common JMAP Email properties
 * (RFC 8621 §4.1: subject, sentAt, messageId, inReplyTo, references, from ... bcc, preview,
 * hasAttachment, bodyStructure) never parse the blob again. The message is parsed once with
 * src/mail; the record is versioned (docs/mailstore.md §Values, record 'P') so later
 * versions can append fields.
 */
#include <string.h>

#include "mail/mail.h"
#include "mailstore/mailstore_int.h"

#define MS_PREVIEW_CHARS 256u

static const char *ms_raw_field(struct core_arena *a, const struct mail_header *h, const char *name)
{
	const struct mail_field *f = mail_header_find(h, name);
	if (f == NULL)
		return NULL;
	struct core_str u = core_str_trim(mail_hdr_unfold(a, f->value));
	return core_str_dup(a, u);
}

static void ms_envelope_build(struct core_arena *a, const struct mail_header *h,
			      struct mailstore_envelope *env)
{
	/* RFC 9051 §7.5.2 ENVELOPE: date, subject, from, sender, reply-to, to, cc, bcc,
	 * in-reply-to, message-id, from the first field of each name. */
	env->date_raw = ms_raw_field(a, h, "Date");
	env->subject_raw = ms_raw_field(a, h, "Subject");
	env->message_id_raw = ms_raw_field(a, h, "Message-ID");
	env->in_reply_to_raw = ms_raw_field(a, h, "In-Reply-To");
	env->from_raw = ms_raw_field(a, h, "From");
	env->sender_raw = ms_raw_field(a, h, "Sender");
	env->reply_to_raw = ms_raw_field(a, h, "Reply-To");
	env->to_raw = ms_raw_field(a, h, "To");
	env->cc_raw = ms_raw_field(a, h, "Cc");
	env->bcc_raw = ms_raw_field(a, h, "Bcc");
}

static void ms_addrs(struct core_arena *a, const struct mail_header *h, const char *name,
		     struct mailstore_addr **out, size_t *n_out)
{
	*out = NULL;
	*n_out = 0;
	/* RFC 8621 §4.1.3: the parsed forms use the last instance of a field. */
	const struct mail_field *f = mail_header_find_last(h, name);
	if (f == NULL)
		return;
	struct mail_addr_list l;
	mail_addr_list_parse(a, f->value, &l);
	*out = core_arena_zalloc(a, (l.naddrs + 1) * sizeof(**out));
	for (size_t g = 0; g < l.ngroups; g++)
		for (size_t i = 0; i < l.groups[g].count; i++) {
			const struct mail_addr *m = &l.groups[g].addrs[i];
			struct mailstore_addr *o = &(*out)[(*n_out)++];
			o->name = m->has_name ? core_str_dup(a, m->name) : NULL;
			o->email = core_str_dup(a, m->email);
		}
}

static void ms_msgids(struct core_arena *a, const struct mail_header *h, const char *name,
		      const char ***out, size_t *n_out)
{
	*out = NULL;
	*n_out = 0;
	const struct mail_field *f = mail_header_find_last(h, name);
	if (f == NULL)
		return;
	struct mail_msgid_list l;
	mail_msgid_list_parse(a, f->value, &l);
	*out = core_arena_zalloc(a, (l.count + 1) * sizeof(**out));
	for (size_t i = 0; i < l.count; i++)
		(*out)[i] = core_str_dup(a, l.ids[i]);
	*n_out = l.count;
}

static const char *ms_opt(struct core_arena *a, struct core_str s)
{
	return s.len > 0 ? core_str_dup(a, s) : NULL;
}

static void ms_params(struct core_arena *a, const struct mail_mime_value *v, const char ***names,
		      const char ***values, size_t *n)
{
	*names = core_arena_zalloc(a, (v->nparams + 1) * sizeof(char *));
	*values = core_arena_zalloc(a, (v->nparams + 1) * sizeof(char *));
	for (size_t i = 0; i < v->nparams; i++) {
		(*names)[i] = core_str_dup(a, v->params[i].name);
		(*values)[i] = core_str_dup(a, v->params[i].value);
	}
	*n = v->nparams;
}

static bool ms_is_attachment(const struct mail_part *p)
{
	if (mail_part_is_multipart(p))
		return false;
	if (p->has_disposition && core_str_eq_cstr_ci(p->disposition.type, "attachment"))
		return true;
	if (mail_mime_param_find(&p->disposition, "filename") != NULL ||
	    mail_mime_param_find(&p->ct, "name") != NULL)
		return true;
	/* A body part that is not text and not a nested message counts as an attachment. */
	return !core_str_eq_cstr_ci(p->ct.type, "text") && !mail_part_is_message(p);
}

/* The preview of decoded text t into o: its characters with white space collapsed, at most
 * MS_PREVIEW_CHARS of them. *end_out receives how many bytes of t were looked at; returns
 * whether the preview is complete (MS_PREVIEW_CHARS characters) before t ends. */
static bool ms_preview_text(const struct core_buf *t, struct core_buf *o, size_t *end_out)
{
	size_t chars = 0, j = 0;
	bool sp = false;
	while (j < t->len && chars < MS_PREVIEW_CHARS) {
		uint32_t cp;
		int l = core_utf8_decode(t->p + j, t->len - j, &cp);
		if (l < 0) {
			j++;
			continue;
		}
		if (cp == ' ' || cp == '\t' || cp == '\r' || cp == '\n') {
			sp = o->len > 0;
		} else if (cp >= 0x20 && cp != 0x7f) {
			if (sp) {
				core_buf_putc(o, ' ');
				chars++;
			}
			sp = false;
			if (chars < MS_PREVIEW_CHARS) {
				core_buf_append(o, t->p + j, (size_t)l);
				chars++;
			}
		}
		j += (size_t)l;
	}
	*end_out = j;
	return chars == MS_PREVIEW_CHARS;
}

/*
 * RFC 8621 §4.1.4 preview: the first text/plain body part, white space collapsed, at most
 * 256 characters. Only the first MS_PREVIEW_RAW bytes of the body are decoded at first:
 * they nearly always hold those characters. Cutting the encoded body changes at most the
 * last few characters of its decoded beginning, so the preview stands when it was complete
 * MS_PREVIEW_SLACK bytes before them; otherwise the whole part is decoded (a body mostly of
 * white space, or shorter than 256 characters).
 */
#define MS_PREVIEW_RAW 2048u
#define MS_PREVIEW_SLACK 64u
static const char *ms_preview(struct core_arena *a, const struct mail_message *m)
{
	for (size_t i = 0; i < m->nparts; i++) {
		const struct mail_part *p = m->parts[i];
		if (mail_part_is_multipart(p) || mail_part_is_message(p))
			continue;
		if (!core_str_eq_cstr_ci(p->ct.type, "text") ||
		    !(core_str_eq_cstr_ci(p->ct.subtype, "plain")))
			continue;
		if (p->has_disposition && core_str_eq_cstr_ci(p->disposition.type, "attachment"))
			continue;
		struct core_buf t = CORE_BUF_INIT, o = CORE_BUF_INIT;
		bool cut = p->body_len > MS_PREVIEW_RAW;
		mail_part_decode_text_prefix(m, p, MS_PREVIEW_RAW, &t, NULL);
		size_t end = 0;
		bool full = ms_preview_text(&t, &o, &end);
		if (cut && (!full || end + MS_PREVIEW_SLACK > t.len)) {
			core_buf_reset(&t);
			core_buf_reset(&o);
			mail_part_decode_text(m, p, &t, NULL);
			ms_preview_text(&t, &o, &end);
		}
		const char *r = core_arena_strndup(a, o.p != NULL ? o.p : "", o.len);
		core_buf_fini(&t);
		core_buf_fini(&o);
		return r;
	}
	return NULL;
}

int ms_parsed_build(struct core_arena *a, const void *data, size_t len,
		    struct mailstore_parsed *out, struct core_error *err)
{
	memset(out, 0, sizeof(*out));
	struct mail_message *m;
	int rc = mail_message_parse(a, data != NULL ? data : "", len, NULL, &m, err);
	if (rc < 0)
		return rc;
	const struct mail_header *h = &m->root->header;
	out->version = MS_V_PARSED;
	const struct mail_field *f = mail_header_find_last(h, "Subject");
	if (f != NULL)
		out->subject = core_str_dup(a, mail_hdr_text(a, f->value));
	f = mail_header_find_last(h, "Date");
	if (f != NULL) {
		time_t t;
		int off = 0;
		struct core_error e;
		if (mail_date_parse(f->value, &t, &off, &e) >= 0) {
			out->sent_at = (int64_t)t;
			out->sent_offset = off;
			out->has_sent_at = true;
		}
	}
	ms_msgids(a, h, "Message-ID", &out->message_ids, &out->nmessage_ids);
	ms_msgids(a, h, "In-Reply-To", &out->in_reply_to, &out->nin_reply_to);
	ms_msgids(a, h, "References", &out->references, &out->nreferences);
	ms_addrs(a, h, "From", &out->from, &out->nfrom);
	ms_addrs(a, h, "Sender", &out->sender, &out->nsender);
	ms_addrs(a, h, "Reply-To", &out->reply_to, &out->nreply_to);
	ms_addrs(a, h, "To", &out->to, &out->nto);
	ms_addrs(a, h, "Cc", &out->cc, &out->ncc);
	ms_addrs(a, h, "Bcc", &out->bcc, &out->nbcc);
	ms_envelope_build(a, h, &out->envelope);
	out->preview = ms_preview(a, m);
	out->nparts = m->nparts;
	out->parts = core_arena_zalloc(a, (m->nparts + 1) * sizeof(*out->parts));
	out->part_envelopes = core_arena_zalloc(a, (m->nparts + 1) * sizeof(*out->part_envelopes));
	for (size_t i = 0; i < m->nparts; i++) {
		const struct mail_part *p = m->parts[i];
		struct mailstore_part *o = &out->parts[i];
		o->nchildren = (uint32_t)p->nchildren;
		o->header_off = p->header_off;
		o->header_len = p->header_len;
		o->body_off = p->body_off;
		o->body_len = p->body_len;
		o->body_lines = p->body_lines;
		o->type = core_str_dup(a, p->ct.type);
		o->subtype = core_str_dup(a, p->ct.subtype);
		ms_params(a, &p->ct, &o->param_names, &o->param_values, &o->nparams);
		o->cte = ms_opt(a, p->cte_raw);
		o->content_id = ms_opt(a, p->content_id);
		o->description = ms_opt(a, p->description);
		if (p->has_disposition) {
			o->disposition = core_str_dup(a, p->disposition.type);
			ms_params(a, &p->disposition, &o->disp_names, &o->disp_values, &o->ndisp);
		}
		if (p->nlanguages > 0) {
			struct core_buf l = CORE_BUF_INIT;
			for (size_t j = 0; j < p->nlanguages; j++) {
				if (j > 0)
					core_buf_append_str(&l, ", ");
				core_buf_append(&l, p->languages[j].p, p->languages[j].len);
			}
			o->language = core_arena_strndup(a, l.p, l.len);
			core_buf_fini(&l);
		}
		o->location = ms_opt(a, p->location);
		o->charset = ms_opt(a, p->charset);
		if (i > 0 && ms_is_attachment(p))
			out->has_attachment = true;
		/* RFC 9051 §7.5.2: BODYSTRUCTURE of message/rfc822 holds the envelope of the
		 * encapsulated message. */
		if (mail_part_is_message(p) && p->nchildren == 1) {
			struct mailstore_envelope *env = core_arena_zalloc(a, sizeof(*env));
			ms_envelope_build(a, &p->children[0]->header, env);
			out->part_envelopes[i] = env;
		}
	}
	return 0;
}

/* --------------------------------------------------------------------------------- */

static void ms_env_encode(const struct mailstore_envelope *e, struct core_buf *b)
{
	ms_put_str(b, e->date_raw);
	ms_put_str(b, e->subject_raw);
	ms_put_str(b, e->message_id_raw);
	ms_put_str(b, e->in_reply_to_raw);
	ms_put_str(b, e->from_raw);
	ms_put_str(b, e->sender_raw);
	ms_put_str(b, e->reply_to_raw);
	ms_put_str(b, e->to_raw);
	ms_put_str(b, e->cc_raw);
	ms_put_str(b, e->bcc_raw);
}

static void ms_env_decode(struct ms_dec *d, struct core_arena *a, struct mailstore_envelope *e)
{
	e->date_raw = ms_get_str(d, a);
	e->subject_raw = ms_get_str(d, a);
	e->message_id_raw = ms_get_str(d, a);
	e->in_reply_to_raw = ms_get_str(d, a);
	e->from_raw = ms_get_str(d, a);
	e->sender_raw = ms_get_str(d, a);
	e->reply_to_raw = ms_get_str(d, a);
	e->to_raw = ms_get_str(d, a);
	e->cc_raw = ms_get_str(d, a);
	e->bcc_raw = ms_get_str(d, a);
}

static void ms_strs_encode(const char *const *v, size_t n, struct core_buf *b)
{
	ms_put_u64(b, n);
	for (size_t i = 0; i < n; i++)
		ms_put_str(b, v[i]);
}

/* A count read from a record: at most one entry per remaining byte. */
static size_t ms_get_count(struct ms_dec *d)
{
	uint64_t n = ms_get_u64(d);
	if (n > d->len - d->off) {
		d->bad = true;
		return 0;
	}
	return (size_t)n;
}

static const char **ms_strs_decode(struct ms_dec *d, struct core_arena *a, size_t *n_out)
{
	size_t n = ms_get_count(d);
	const char **v = core_arena_zalloc(a, (n + 1) * sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = ms_get_str(d, a);
	*n_out = d->bad ? 0 : n;
	return v;
}

static void ms_addrs_encode(const struct mailstore_addr *v, size_t n, struct core_buf *b)
{
	ms_put_u64(b, n);
	for (size_t i = 0; i < n; i++) {
		ms_put_str(b, v[i].name);
		ms_put_str(b, v[i].email);
	}
}

static struct mailstore_addr *ms_addrs_decode(struct ms_dec *d, struct core_arena *a, size_t *n_out)
{
	size_t n = ms_get_count(d);
	struct mailstore_addr *v = core_arena_zalloc(a, (n + 1) * sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		v[i].name = ms_get_str(d, a);
		v[i].email = ms_get_str(d, a);
		if (v[i].email == NULL)
			v[i].email = "";
	}
	*n_out = d->bad ? 0 : n;
	return v;
}

void ms_parsed_encode(const struct mailstore_parsed *p, struct core_buf *b)
{
	core_buf_reset(b);
	ms_put_u64(b, MS_V_PARSED);
	ms_put_str(b, p->subject);
	ms_put_u64(b, p->has_sent_at ? 1 : 0);
	ms_put_i64(b, p->sent_at);
	ms_put_i64(b, p->sent_offset);
	ms_strs_encode(p->message_ids, p->nmessage_ids, b);
	ms_strs_encode(p->in_reply_to, p->nin_reply_to, b);
	ms_strs_encode(p->references, p->nreferences, b);
	ms_addrs_encode(p->from, p->nfrom, b);
	ms_addrs_encode(p->sender, p->nsender, b);
	ms_addrs_encode(p->reply_to, p->nreply_to, b);
	ms_addrs_encode(p->to, p->nto, b);
	ms_addrs_encode(p->cc, p->ncc, b);
	ms_addrs_encode(p->bcc, p->nbcc, b);
	ms_put_str(b, p->preview);
	ms_put_u64(b, p->has_attachment ? 1 : 0);
	ms_env_encode(&p->envelope, b);
	ms_put_u64(b, p->nparts);
	for (size_t i = 0; i < p->nparts; i++) {
		const struct mailstore_part *o = &p->parts[i];
		ms_put_u64(b, o->nchildren);
		ms_put_u64(b, o->header_off);
		ms_put_u64(b, o->header_len);
		ms_put_u64(b, o->body_off);
		ms_put_u64(b, o->body_len);
		ms_put_u64(b, o->body_lines);
		ms_put_str(b, o->type);
		ms_put_str(b, o->subtype);
		ms_strs_encode(o->param_names, o->nparams, b);
		ms_strs_encode(o->param_values, o->nparams, b);
		ms_put_str(b, o->cte);
		ms_put_str(b, o->content_id);
		ms_put_str(b, o->description);
		ms_put_str(b, o->disposition);
		ms_strs_encode(o->disp_names, o->ndisp, b);
		ms_strs_encode(o->disp_values, o->ndisp, b);
		ms_put_str(b, o->language);
		ms_put_str(b, o->location);
		ms_put_str(b, o->charset);
		const struct mailstore_envelope *env =
			p->part_envelopes != NULL ? p->part_envelopes[i] : NULL;
		ms_put_u64(b, env != NULL ? 1 : 0);
		if (env != NULL)
			ms_env_encode(env, b);
	}
}

int ms_parsed_decode(const void *data, size_t n, struct core_arena *a, struct mailstore_parsed *p)
{
	struct ms_dec d;
	ms_dec_init(&d, data, n);
	memset(p, 0, sizeof(*p));
	uint64_t v = ms_get_u64(&d);
	if (d.bad || v < 1)
		return CORE_EINTERNAL;
	p->version = (unsigned)(v > 1000 ? 1000 : v);
	p->subject = ms_get_str(&d, a);
	p->has_sent_at = ms_get_u64(&d) != 0;
	p->sent_at = ms_get_i64(&d);
	p->sent_offset = (int)ms_get_i64(&d);
	p->message_ids = ms_strs_decode(&d, a, &p->nmessage_ids);
	p->in_reply_to = ms_strs_decode(&d, a, &p->nin_reply_to);
	p->references = ms_strs_decode(&d, a, &p->nreferences);
	p->from = ms_addrs_decode(&d, a, &p->nfrom);
	p->sender = ms_addrs_decode(&d, a, &p->nsender);
	p->reply_to = ms_addrs_decode(&d, a, &p->nreply_to);
	p->to = ms_addrs_decode(&d, a, &p->nto);
	p->cc = ms_addrs_decode(&d, a, &p->ncc);
	p->bcc = ms_addrs_decode(&d, a, &p->nbcc);
	p->preview = ms_get_str(&d, a);
	p->has_attachment = ms_get_u64(&d) != 0;
	ms_env_decode(&d, a, &p->envelope);
	size_t np = ms_get_count(&d);
	p->parts = core_arena_zalloc(a, (np + 1) * sizeof(*p->parts));
	p->part_envelopes = core_arena_zalloc(a, (np + 1) * sizeof(*p->part_envelopes));
	for (size_t i = 0; i < np && !d.bad; i++) {
		struct mailstore_part *o = &p->parts[i];
		o->nchildren = ms_get_u32(&d);
		o->header_off = ms_get_u64(&d);
		o->header_len = ms_get_u64(&d);
		o->body_off = ms_get_u64(&d);
		o->body_len = ms_get_u64(&d);
		o->body_lines = ms_get_u64(&d);
		o->type = ms_get_str(&d, a);
		o->subtype = ms_get_str(&d, a);
		size_t n1, n2;
		o->param_names = ms_strs_decode(&d, a, &n1);
		o->param_values = ms_strs_decode(&d, a, &n2);
		o->nparams = n1 < n2 ? n1 : n2;
		o->cte = ms_get_str(&d, a);
		o->content_id = ms_get_str(&d, a);
		o->description = ms_get_str(&d, a);
		o->disposition = ms_get_str(&d, a);
		o->disp_names = ms_strs_decode(&d, a, &n1);
		o->disp_values = ms_strs_decode(&d, a, &n2);
		o->ndisp = n1 < n2 ? n1 : n2;
		o->language = ms_get_str(&d, a);
		o->location = ms_get_str(&d, a);
		o->charset = ms_get_str(&d, a);
		if (o->type == NULL)
			o->type = "";
		if (o->subtype == NULL)
			o->subtype = "";
		if (ms_get_u64(&d) != 0) {
			struct mailstore_envelope *env = core_arena_zalloc(a, sizeof(*env));
			ms_env_decode(&d, a, env);
			p->part_envelopes[i] = env;
		}
	}
	if (d.bad)
		return CORE_EINTERNAL;
	p->nparts = np;
	return 0;
}
