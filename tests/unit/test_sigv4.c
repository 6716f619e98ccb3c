/* test_sigv4.c: SigV4 signatures equal botocore's (SigV4Auth, service "bedrock"), byte for
 * byte, for the paths Bedrock's SDKs send (a model id with ':' and an inference-profile ARN,
 * each encoded twice in the canonical URI), with and without a session token; a changed
 * byte of the body changes the signature; dot segments and bad escapes are refused.
 * The expected values were computed by botocore (see tests/e2e/test_bedrock_sigv4.py, which
 * checks the same against botocore live). */
#include <errno.h>
#include <time.h>

#include "providers/sigv4.h"
#include "unit.h"

static const struct sigv4_credentials creds = {
    "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL};

static time_t when(void)
{
	struct tm tm = {.tm_year = 126, .tm_mon = 11, .tm_mday = 3, .tm_hour = 17, .tm_min = 22};

	return timegm(&tm);
}

static struct sigv4_request req(const char *path, const char *body)
{
	struct sigv4_request r = {
	    .method = "POST",
	    .host = "bedrock-runtime.us-east-1.amazonaws.com",
	    .path = path,
	    .path_len = strlen(path),
	    .body = body,
	    .body_len = strlen(body),
	    .region = "us-east-1",
	    .service = "bedrock",
	    .when = when(),
	};
	return r;
}

static void test_model_id_with_colon_matches_botocore(void)
{
	struct sigv4_request r =
	    req("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", "{\"messages\":[]}");
	struct sigv4_signed s;
	char canon[2048];

	ASSERT_OK(sigv4_sign(&r, &creds, &s));
	ASSERT_STREQ(s.amz_date, "20261203T172200Z");
	ASSERT_OK(sigv4_canonical_request(&r, &creds, s.amz_date, s.content_sha256, canon,
					  sizeof(canon)));
	ASSERT_CONTAINS(canon, "\n/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse\n");
	ASSERT_STREQ(s.authorization,
		     "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261203/us-east-1/bedrock/"
		     "aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
		     "Signature=55256d07ac3b8df8606f2e1e80938e94a99eef3db32dced7a26323619020ce7f");
}

static void test_arn_and_session_token_match_botocore(void)
{
	struct sigv4_credentials c = creds;
	struct sigv4_request r =
	    req("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus."
		"anthropic.claude-sonnet-4-20250514-v1%3A0/invoke",
		"{}");
	struct sigv4_signed s;

	c.session_token = "FQoGZXIvYXdzEXAMPLE";
	ASSERT_OK(sigv4_sign(&r, &c, &s));
	ASSERT_CONTAINS(s.authorization,
			"SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, "
			"Signature=9c5e8d32bf75bb3d8557df526f0e44ad659469c63bdff2f4687ead7ec4ff8f63");
}

static void test_body_byte_changes_signature(void)
{
	struct sigv4_request a = req("/model/m/converse", "{\"a\":1}");
	struct sigv4_request b = req("/model/m/converse", "{\"a\":2}");
	struct sigv4_signed sa, sb;

	ASSERT_OK(sigv4_sign(&a, &creds, &sa));
	ASSERT_OK(sigv4_sign(&b, &creds, &sb));
	ASSERT_TRUE(strcmp(sa.authorization, sb.authorization) != 0);
	ASSERT_TRUE(strcmp(sa.content_sha256, sb.content_sha256) != 0);
}

static void test_query_is_sorted_and_reencoded(void)
{
	struct sigv4_request r = req("/model/m/converse", "");
	struct sigv4_signed s;
	char canon[2048];

	r.query = "b=2&a=x%2fy&a=1";
	r.query_len = strlen(r.query);
	ASSERT_OK(sigv4_sign(&r, &creds, &s));
	ASSERT_OK(sigv4_canonical_request(&r, &creds, s.amz_date, s.content_sha256, canon,
					  sizeof(canon)));
	ASSERT_CONTAINS(canon, "\na=1&a=x%2Fy&b=2\n");
}

static void test_dot_segments_and_bad_escapes_refused(void)
{
	struct sigv4_request r = req("/model/../x/converse", "");
	struct sigv4_signed s;

	ASSERT_EQ(sigv4_sign(&r, &creds, &s), -EINVAL);
	r = req("/model/m/converse", "");
	r.query = "a=%zz";
	r.query_len = 5;
	ASSERT_EQ(sigv4_sign(&r, &creds, &s), -EINVAL);
}

UNIT_MAIN(UNIT_CASE(test_model_id_with_colon_matches_botocore),
	  UNIT_CASE(test_arn_and_session_token_match_botocore),
	  UNIT_CASE(test_body_byte_changes_signature),
	  UNIT_CASE(test_query_is_sorted_and_reencoded),
	  UNIT_CASE(test_dot_segments_and_bad_escapes_refused))
