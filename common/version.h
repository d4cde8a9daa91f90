// This build's version and the git commit it was built from ("unknown" outside a clone; a
// "-dirty" suffix when the work tree had uncommitted changes), for results databases.
#pragma once

namespace archbench {

extern const char* const kArchbenchVersion;
extern const char* const kArchbenchGitHash;

}  // namespace archbench
