// The single table of environment variables chroma-ha reads. LoadConfig() reads variables only
// through this table (asking for a name that is not in it is an internal error), and HelpText()
// prints it, so `chroma-ha --help` always lists every variable the loader reads.
#ifndef CHROMA_HA_CONFIG_CONFIG_VARS_H_
#define CHROMA_HA_CONFIG_CONFIG_VARS_H_

#include <string_view>
#include <vector>

namespace chroma_ha {

struct ConfigVariable {
  const char* group;          // heading in --help
  const char* name;           // e.g. "PORT"
  const char* default_value;  // as shown in --help ("" = unset)
  const char* meaning;
  bool secret = false;   // never printed: tokens, DATABASE_URL, webhook URLs
  bool ignored = false;  // the old load balancer's variable, accepted but with no effect here
};

// Every variable, in --help order.
const std::vector<ConfigVariable>& ConfigVariables();

// The entry for `name`, or nullptr.
const ConfigVariable* FindConfigVariable(std::string_view name);

}  // namespace chroma_ha

#endif  // CHROMA_HA_CONFIG_CONFIG_VARS_H_
