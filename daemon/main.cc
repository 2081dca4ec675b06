// digestd: the command-line entry point. Everything it does lives in daemon/cli.h.
#include "daemon/cli.h"

int main(int argc, char** argv) { return digestd::RunCli(argc, argv); }
