// Test certificates made in memory with OpenSSL: a private CA and server certificates it signs
// written as PEM files into a temporary directory. Header-only, for
// the upstream TLS tests.
#ifndef CHROMA_HA_TESTS_UNIT_UPSTREAM_TEST_CERTS_H_
#define CHROMA_HA_TESTS_UNIT_UPSTREAM_TEST_CERTS_H_

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace chroma_ha::testing {

struct KeyAndCert {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  KeyAndCert() = default;
  KeyAndCert(const KeyAndCert&) = delete;
  KeyAndCert& operator=(const KeyAndCert&) = delete;
  KeyAndCert(KeyAndCert&& o) noexcept : key(o.key), cert(o.cert) {
    o.key = nullptr, o.cert = nullptr;
  }
  ~KeyAndCert() {
    EVP_PKEY_free(key);
    X509_free(cert);
  }
};

inline void AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) throw std::runtime_error("bad extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `common_name` with subjectAltName `san` (e.g. "DNS:localhost,IP:127.0.0.1"),
// signed by `issuer` (nullptr: self-signed CA).
inline KeyAndCert MakeCert(const std::string& common_name, const std::string& san,
                           const KeyAndCert* issuer) {
  static long serial = 1;
  KeyAndCert out;
  out.key = EVP_EC_gen("P-256");
  out.cert = X509_new();
  X509_set_version(out.cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(out.cert), serial++);
  X509_gmtime_adj(X509_getm_notBefore(out.cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(out.cert), 86400);
  X509_set_pubkey(out.cert, out.key);
  X509_NAME* name = X509_get_subject_name(out.cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509* issuer_cert = issuer != nullptr ? issuer->cert : out.cert;
  X509_set_issuer_name(out.cert, X509_get_subject_name(issuer_cert));
  if (issuer == nullptr) {
    AddExtension(out.cert, issuer_cert, NID_basic_constraints, "critical,CA:TRUE");
    AddExtension(out.cert, issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExtension(out.cert, issuer_cert, NID_basic_constraints, "CA:FALSE");
    AddExtension(out.cert, issuer_cert, NID_subject_alt_name, san);
  }
  if (X509_sign(out.cert, issuer != nullptr ? issuer->key : out.key, EVP_sha256()) == 0) {
    throw std::runtime_error("X509_sign failed");
  }
  return out;
}

inline void WritePem(const std::string& path, X509* cert, EVP_PKEY* key) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw std::runtime_error("cannot write " + path);
  if (cert != nullptr) PEM_write_X509(f, cert);
  if (key != nullptr) PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
}

// A temporary directory with ca.pem (the CA), and for each server certificate made with
// Server(): NAME.crt and NAME.key. Removed by the destructor.
class TestPki {
 public:
  // `name`: the CA's common name (two PKIs of a test need different names).
  explicit TestPki(const std::string& name = "chroma-ha test CA")
      : ca_(MakeCert(name, "", nullptr)) {
    char tmpl[] = "/tmp/chroma-ha-pki-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    WritePem(ca_file(), ca_.cert, nullptr);
  }
  ~TestPki() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  const std::string& dir() const { return dir_; }
  std::string ca_file() const { return dir_ + "/ca.pem"; }
  // Writes NAME.crt / NAME.key for a certificate with `san`, signed by this PKI's CA.
  void Server(const std::string& name, const std::string& san) {
    KeyAndCert c = MakeCert(name, san, &ca_);
    WritePem(dir_ + "/" + name + ".crt", c.cert, nullptr);
    WritePem(dir_ + "/" + name + ".key", nullptr, c.key);
  }

 private:
  KeyAndCert ca_;
  std::string dir_;
};

}  // namespace chroma_ha::testing

#endif  // CHROMA_HA_TESTS_UNIT_UPSTREAM_TEST_CERTS_H_
