// RunCli: parses digestd's command line (CONFIG.md "Command line") and runs the command.
// Returns the process exit code: 0 ok, 1 runtime failure, 2 usage, 78 configuration error.
#pragma once

namespace digestd {

int RunCli(int argc, char** argv);

}  // namespace digestd
