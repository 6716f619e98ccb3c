/* test_vertex.c: Vertex AI's publisher-model paths read strictly (vertex.h), the Anthropic
 * body made Vertex's, and the service-account JWT (gcp_token.h): signed RS256 by the key file's
 * key, with the claims Google's token endpoint checks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "providers/vertex.h"
#include "proxy/gcp_token.h"
#include "unit.h"

#define P "/v1/projects/acme/locations/global/publishers/"

static void test_path_parse(void)
{
	struct vertex_call vc;

	ASSERT_OK(vertex_path_parse(P "anthropic/models/claude-sonnet-4-5@20250929:rawPredict", &vc));
	ASSERT_EQ(vc.kind, VERTEX_ANTHROPIC_RAW);
	ASSERT_STREQ(vc.project, "acme");
	ASSERT_STREQ(vc.location, "global");
	ASSERT_STREQ(vc.model, "claude-sonnet-4-5@20250929");
	ASSERT_OK(vertex_path_parse("/v1beta1/projects/p-1/locations/us-east5/publishers/anthropic/"
				    "models/claude-haiku-4-5@20251001:streamRawPredict?alt=sse",
				    &vc));
	ASSERT_EQ(vc.kind, VERTEX_ANTHROPIC_STREAM);
	ASSERT_STREQ(vc.location, "us-east5");
	ASSERT_OK(vertex_path_parse(P "google/models/gemini-2.5-pro:streamGenerateContent", &vc));
	ASSERT_EQ(vc.kind, VERTEX_GEMINI_STREAM);
	ASSERT_STREQ(vc.model, "gemini-2.5-pro");
	ASSERT_STREQ(vc.method, "streamGenerateContent");
	ASSERT_TRUE(vertex_kind_is_gemini(vc.kind) && !vertex_kind_is_gemini(VERTEX_ANTHROPIC_RAW));
	ASSERT_STREQ(vertex_kind_method(VERTEX_GEMINI_COUNT_TOKENS), "countTokens");
}

/* Anything a server could read as another model, or that is no call the gateway knows. */
static void test_path_tricks_are_no_call(void)
{
	static const char *const bad[] = {
	    P "anthropic/models/claude-a:rawPredict/../../models/claude-b:rawPredict",
	    P "anthropic/models/..%2Fclaude-b:rawPredict",
	    P "anthropic/models/claude-a%3ArawPredict",
	    P "anthropic/models/claude-a:rawPredict:rawPredict",
	    P "anthropic/models/claude-a:rawPredictX",
	    P "anthropic/models/:rawPredict",
	    P "anthropic/models/..:rawPredict",
	    P "Anthropic/models/claude-a:rawPredict",
	    P "anthropic/models/claude-a:generateContent",
	    P "google/models/gemini:rawPredict",
	    "/v1/projects/acme/locations/global/endpoints/123:predict",
	    "/v1/projects//locations/global/publishers/anthropic/models/claude-a:rawPredict",
	    "/v2/projects/acme/locations/global/publishers/anthropic/models/claude-a:rawPredict",
	    "/v1/messages",
	};
	struct vertex_call vc;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (vertex_path_parse(bad[i], &vc) != -ENOENT)
			UNIT_FAIL("%s: read as a call", bad[i]);
}

static void test_path_build_and_body(void)
{
	char buf[256], *body;
	size_t len;
	cJSON *j;

	ASSERT_OK(vertex_gemini_path("acme", "global", "gemini-2.5-pro", "streamGenerateContent",
				     "?alt=sse", buf, sizeof(buf)));
	ASSERT_STREQ(buf, "/v1/projects/acme/locations/global/publishers/google/models/"
			  "gemini-2.5-pro:streamGenerateContent?alt=sse");
	ASSERT_EQ(vertex_gemini_path("acme", "global", "m", "generateContent", "", buf, 40),
		  -ENOSPC);
	ASSERT_OK(vertex_anthropic_path("acme", "us-east5", "claude-x@1", 1, buf, sizeof(buf)));
	ASSERT_STREQ(buf, "/v1/projects/acme/locations/us-east5/publishers/anthropic/models/"
			  "claude-x@1:streamRawPredict");
	ASSERT_EQ(vertex_anthropic_path("acme", "global", "m", 0, buf, 20), -ENOSPC);
	ASSERT_OK(vertex_anthropic_body("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[]}", 42,
					&body, &len));
	j = cJSON_Parse(body);
	ASSERT_TRUE(!cJSON_GetObjectItemCaseSensitive(j, "model"));
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "anthropic_version")),
		     VERTEX_ANTHROPIC_VERSION);
	ASSERT_EQ(cJSON_GetObjectItemCaseSensitive(j, "max_tokens")->valueint, 5);
	cJSON_Delete(j);
	free(body);
	ASSERT_EQ(vertex_anthropic_body("[1]", 3, &body, &len), -EINVAL);
}

/* A key file with a fresh RSA key at PATH; its key for verifying, or NULL. */
static EVP_PKEY *write_key_file(const char *path)
{
	EVP_PKEY *key = EVP_RSA_gen(2048);
	BIO *bio = BIO_new(BIO_s_mem());
	cJSON *sa = cJSON_CreateObject();
	char *pem, *text;
	long n;
	FILE *f;

	PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(bio, &pem);
	text = strndup(pem, n);
	cJSON_AddStringToObject(sa, "client_email", "gw@acme.iam.gserviceaccount.com");
	cJSON_AddStringToObject(sa, "private_key", text);
	cJSON_AddStringToObject(sa, "token_uri", "https://oauth2.googleapis.com/token");
	free(text);
	text = cJSON_Print(sa);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	free(text);
	cJSON_Delete(sa);
	BIO_free(bio);
	return key;
}

static cJSON *b64url_json(const char *s, size_t n)
{
	char std[2048];
	unsigned char raw[2048];
	int len;

	snprintf(std, sizeof(std), "%.*s", (int)n, s);
	for (char *p = std; *p; p++)
		*p = *p == '-' ? '+' : *p == '_' ? '/' : *p;
	while (strlen(std) % 4)
		strcat(std, "=");
	len = EVP_DecodeBlock(raw, (unsigned char *)std, (int)strlen(std));
	while (len > 0 && !raw[len - 1])
		len--;
	return cJSON_ParseWithLength((const char *)raw, len);
}

static void test_jwt_is_signed_with_the_claims(void)
{
	char path[] = "/tmp/aigw-test-sa-XXXXXX", why[256];
	int fd = mkstemp(path);
	EVP_PKEY *key;
	struct gcp_sa *sa;
	char *jwt, *d1, *d2;
	cJSON *h, *c;

	ASSERT_TRUE(fd >= 0);
	close(fd);
	key = write_key_file(path);
	ASSERT_OK(gcp_sa_load(path, &sa, why, sizeof(why)));
	ASSERT_STREQ(gcp_sa_token_uri(sa), "https://oauth2.googleapis.com/token");
	jwt = gcp_jwt_assertion(sa, "https://oauth2.googleapis.com/token", 1700000000);
	ASSERT_TRUE(jwt);
	d1 = strchr(jwt, '.');
	d2 = strchr(d1 + 1, '.');
	h = b64url_json(jwt, d1 - jwt);
	c = b64url_json(d1 + 1, d2 - d1 - 1);
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(h, "alg")), "RS256");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(c, "iss")),
		     "gw@acme.iam.gserviceaccount.com");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(c, "scope")), GCP_TOKEN_SCOPE);
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(c, "aud")),
		     "https://oauth2.googleapis.com/token");
	ASSERT_EQ((long long)cJSON_GetObjectItem(c, "iat")->valuedouble, 1700000000LL);
	ASSERT_EQ((long long)cJSON_GetObjectItem(c, "exp")->valuedouble, 1700003600LL);
	{ /* the signature verifies with the account's public key */
		char std[1024];
		unsigned char sig[1024];
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		int n;

		snprintf(std, sizeof(std), "%s", d2 + 1);
		for (char *p = std; *p; p++)
			*p = *p == '-' ? '+' : *p == '_' ? '/' : *p;
		while (strlen(std) % 4)
			strcat(std, "=");
		n = EVP_DecodeBlock(sig, (unsigned char *)std, (int)strlen(std));
		ASSERT_EQ(n, 256 + 2); /* 256 bytes, padded to a multiple of 3 */
		ASSERT_EQ(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key), 1);
		ASSERT_EQ(EVP_DigestVerify(md, sig, 256, (unsigned char *)jwt, d2 - jwt), 1);
		EVP_MD_CTX_free(md);
	}
	cJSON_Delete(h);
	cJSON_Delete(c);
	free(jwt);
	gcp_sa_free(sa);
	EVP_PKEY_free(key);
	unlink(path);
}

static void test_bad_key_files_say_what_is_wrong(void)
{
	char path[] = "/tmp/aigw-test-sa-XXXXXX", why[256];
	int fd = mkstemp(path);
	struct gcp_sa *sa = NULL;
	static const char no_key[] = "{\"client_email\":\"a@b\",\"token_uri\":\"https://x/t\"}";
	static const char bad_key[] = "{\"client_email\":\"a@b\",\"token_uri\":\"https://x/t\","
				      "\"private_key\":\"-----BEGIN PRIVATE KEY-----\\nAAAA\\n"
				      "-----END PRIVATE KEY-----\\n\"}";

	ASSERT_TRUE(fd >= 0);
	ASSERT_TRUE(write(fd, no_key, strlen(no_key)) == (ssize_t)strlen(no_key));
	close(fd);
	ASSERT_EQ(gcp_sa_load(path, &sa, why, sizeof(why)), -EINVAL);
	ASSERT_CONTAINS(why, "\"private_key\" missing");
	fd = open(path, O_WRONLY | O_TRUNC);
	ASSERT_TRUE(write(fd, bad_key, strlen(bad_key)) == (ssize_t)strlen(bad_key));
	close(fd);
	ASSERT_EQ(gcp_sa_load(path, &sa, why, sizeof(why)), -EINVAL);
	ASSERT_CONTAINS(why, "not an RSA private key");
	unlink(path);
	ASSERT_EQ(gcp_sa_load(path, &sa, why, sizeof(why)), -ENOENT);
	ASSERT_CONTAINS(why, "cannot read");
}

UNIT_MAIN(UNIT_CASE(test_path_parse), UNIT_CASE(test_path_tricks_are_no_call),
	  UNIT_CASE(test_path_build_and_body), UNIT_CASE(test_jwt_is_signed_with_the_claims),
	  UNIT_CASE(test_bad_key_files_say_what_is_wrong))
