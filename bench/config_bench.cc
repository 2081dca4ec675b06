// Loading a config: N webhook notifiers that one watch names (the fan-out's shape), and N
// keyword watches that name one notifier. Parse, validation and the cross-checks included.
#include <string>

#include <benchmark/benchmark.h>

#include "config/config_loader.h"

namespace digestd::bench {
namespace {

std::string FanOutConfig(int notifiers) {
  std::string toml = "[daemon]\nstate = \"state.db\"\nalert_notify = [\"h0\"]\n\n";
  toml += "[[source]]\nname = \"papers\"\nkind = \"feed\"\nurl = \"https://example.org/f\"\n";
  std::string names;
  for (int i = 0; i < notifiers; ++i) {
    const std::string name = "h" + std::to_string(i);
    toml += "\n[[notifier]]\nname = \"" + name + "\"\nkind = \"webhook\"\n";
    toml += "url = \"http://127.0.0.1:9/h/" + std::to_string(i) + "\"\n";
    names += (i == 0 ? "\"" : ", \"") + name + "\"";
  }
  toml += "\n[[watch]]\nname = \"all\"\nquery = \"*\"\nnotify = [" + names + "]\n";
  return toml;
}

std::string WatchesConfig(int watches) {
  std::string toml = "[daemon]\nstate = \"state.db\"\nalert_notify = [\"out\"]\n\n";
  toml += "[[source]]\nname = \"papers\"\nkind = \"feed\"\nurl = \"https://example.org/f\"\n";
  toml += "\n[[notifier]]\nname = \"out\"\nkind = \"console\"\n";
  for (int i = 0; i < watches; ++i) {
    toml += "\n[[watch]]\nname = \"w" + std::to_string(i) + "\"\nkeywords = [\"topic " +
            std::to_string(i) + "\"]\nnotify = [\"out\"]\n";
  }
  return toml;
}

void Load(benchmark::State& state, const std::string& toml) {
  for (auto _ : state) {
    const ConfigLoad load = LoadConfigText(toml, "digestd.toml");
    if (!load.config) {
      state.SkipWithError(load.diagnostics.empty() ? "no config"
                                                   : load.diagnostics[0].ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(load.config.get());
  }
  state.counters["bytes"] = double(toml.size());
}

void BM_LoadFanOutConfig(benchmark::State& state) {
  Load(state, FanOutConfig(int(state.range(0))));
}
BENCHMARK(BM_LoadFanOutConfig)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_LoadWatchesConfig(benchmark::State& state) {
  Load(state, WatchesConfig(int(state.range(0))));
}
BENCHMARK(BM_LoadWatchesConfig)->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace digestd::bench

BENCHMARK_MAIN();
