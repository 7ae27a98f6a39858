/*
 * tags.c
 *		Validation and canonical form of tag sets (see tags.h).
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "tags.h"

/* Longest label name or value we accept; Prometheus has no limit, we do. */
#define TAG_KEY_MAX		128
#define TAG_VALUE_MAX	1024

static const char *const lineage_keys[] = {"work_id", "trace_id", "plan_id", "step_id"};

static bool
is_lineage_key(const char *key, int keylen)
{
	for (int i = 0; i < (int) lengthof(lineage_keys); i++)
	{
		if ((int) strlen(lineage_keys[i]) == keylen &&
			memcmp(lineage_keys[i], key, keylen) == 0)
			return true;
	}
	return false;
}

bool
is_prometheus_name(const char *name, int len, int maxlen, bool allow_colon)
{
	if (len <= 0 || len > maxlen)
		return false;
	for (int i = 0; i < len; i++)
	{
		char		c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			  (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

/*
 * Label names follow Prometheus: [a-zA-Z_][a-zA-Z0-9_]*, names starting with
 * "__" are reserved, and "le"/"quantile" would clash with the labels that
 * histogram and summary exposition adds.
 */
void
tags_check_key(const char *key, int keylen, const char *argname)
{
	if (!is_prometheus_name(key, keylen, TAG_KEY_MAX, false))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid tag name \"%.*s\" in %s", Min(keylen, 200), key, argname),
				 errhint("Tag names must match [a-zA-Z_][a-zA-Z0-9_]* and be at most %d characters, as Prometheus label names.",
						 TAG_KEY_MAX)));
	if ((keylen >= 2 && key[0] == '_' && key[1] == '_') ||
		(keylen == 2 && memcmp(key, "le", 2) == 0) ||
		(keylen == 8 && memcmp(key, "quantile", 8) == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tag name \"%.*s\" in %s is reserved", keylen, key, argname),
				 errhint("Names starting with \"__\", \"le\" and \"quantile\" are reserved by the Prometheus exposition format.")));
}

void
tags_begin(TagBuilder *tb)
{
	memset(tb, 0, sizeof(*tb));
	pushJsonbValue(&tb->series, WJB_BEGIN_OBJECT, NULL);
	pushJsonbValue(&tb->lineage, WJB_BEGIN_OBJECT, NULL);
}

static void
push_string_pair(JsonbParseState **state, const char *key, int keylen,
				 char *val, int vallen)
{
	JsonbValue	k,
				v;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = keylen;
	v.type = jbvString;
	v.val.string.val = val;
	v.val.string.len = vallen;
	pushJsonbValue(state, WJB_KEY, &k);
	pushJsonbValue(state, WJB_VALUE, &v);
}

void
tags_add_pair(TagBuilder *tb, const char *key, int keylen, JsonbValue *val,
			  const char *argname)
{
	char	   *str;
	int			len;

	tags_check_key(key, keylen, argname);

	switch (val->type)
	{
		case jbvNull:
			return;				/* MetricsEx drops nil-valued tags */
		case jbvString:
			str = val->val.string.val;
			len = val->val.string.len;
			break;
		case jbvNumeric:
			str = DatumGetCString(DirectFunctionCall1(numeric_out,
													  NumericGetDatum(val->val.numeric)));
			len = strlen(str);
			break;
		case jbvBool:
			str = val->val.boolean ? "true" : "false";
			len = strlen(str);
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("tag \"%.*s\" in %s has a nested value", keylen, key, argname),
					 errhint("Tag values must be strings, numbers or booleans.")));
	}
	if (len > TAG_VALUE_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("value of tag \"%.*s\" in %s is too long", keylen, key, argname),
				 errhint("Tag values are at most %d bytes.", TAG_VALUE_MAX)));

	if (is_lineage_key(key, keylen))
	{
		push_string_pair(&tb->lineage, key, keylen, str, len);
		tb->nlineage++;
	}
	else
	{
		push_string_pair(&tb->series, key, keylen, str, len);
		tb->nseries++;
	}
}

void
tags_add_object(TagBuilder *tb, JsonbContainer *obj, const char *argname)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (!JsonContainerIsObject(obj) || JsonContainerIsScalar(obj))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON object", argname),
				 errhint("Pass tags as a flat object such as '{\"tenant\": \"cns\"}'.")));

	it = JsonbIteratorInit(obj);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			char	   *key = v.val.string.val;
			int			keylen = v.val.string.len;

			tok = JsonbIteratorNext(&it, &v, true);
			Assert(tok == WJB_VALUE);
			tags_add_pair(tb, key, keylen, &v, argname);
		}
	}
}

void
tags_finish(TagBuilder *tb, Jsonb **series, Jsonb **lineage)
{
	*series = JsonbValueToJsonb(pushJsonbValue(&tb->series, WJB_END_OBJECT, NULL));
	if (tb->nlineage > 0)
		*lineage = JsonbValueToJsonb(pushJsonbValue(&tb->lineage, WJB_END_OBJECT, NULL));
	else
		*lineage = NULL;
}

bool
tags_is_canonical(Jsonb *obj)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (!JB_ROOT_IS_OBJECT(obj) || JB_ROOT_IS_SCALAR(obj))
		return false;

	it = JsonbIteratorInit(&obj->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			const char *key = v.val.string.val;
			int			keylen = v.val.string.len;

			if (is_lineage_key(key, keylen))
				return false;
			tags_check_key(key, keylen, "tags");
		}
		else if (tok == WJB_VALUE)
		{
			if (v.type != jbvString || v.val.string.len > TAG_VALUE_MAX)
				return false;
		}
	}
	return true;
}
