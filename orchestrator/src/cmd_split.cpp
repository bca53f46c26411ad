// `ugs split STORE --out FILE`: patient-grouped, size-stratified cross-validation folds.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <set>

#include "commands.h"
#include "ugs/storage/folds.h"
#include "ugs/storage/store.h"
#include "ugs/storage/summary.h"

namespace ugs::cli {

void add_split_command(CLI::App& app) {
  struct Options {
    std::string store;
    int folds = 5;
    std::uint64_t seed = 0;
    std::string out;
    bool force = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = add_command(
      app, "split", "Split a nodule store into cross-validation folds, grouped by patient",
      "Writes --out in nnU-Net's splits_final.json shape: a list of {\"train\": [ids], \"val\": [ids]},\n"
      "one per fold, ids sorted. Every nodule is in exactly one val set and no patient's nodules are in\n"
      "two folds. Folds are stratified by size: patients sorted by mean nodule diameter form strata of\n"
      "FOLDS patients, and each fold gets one patient of every stratum, chosen after a seeded shuffle so\n"
      "that fold nodule counts stay balanced. The same store, --folds and --seed give the same file on\n"
      "every machine. A split is made once and reused: an existing --out file is kept unless --force.\n"
      "Prints, per fold, the val patients and nodules and the val nodules' diameters.");
  command->add_option("STORE", options->store, "Folder of the nodule store")->required();
  command->add_option("--folds", options->folds, "Number of folds (2..patients)")
      ->capture_default_str()
      ->check(CLI::Range(2, 1000));
  command->add_option("--seed", options->seed, "Seed of the shuffle within strata")->capture_default_str();
  command->add_option("--out", options->out, "The splits_final.json file to write")->required();
  command->add_flag("--force", options->force, "Replace an existing --out file (default: refuse)");
  command->callback([options] {
    if (!options->force && std::filesystem::exists(options->out)) {
      throw std::runtime_error(options->out + ": already exists (a split is made once; --force replaces it)");
    }
    const storage::NoduleStore store = storage::NoduleStore::open(options->store);
    const std::vector<storage::Fold> folds = storage::make_folds(store.infos(), options->folds, options->seed);
    storage::write_folds(options->out, folds);

    std::set<std::string> patients;
    for (const storage::NoduleInfo& info : store.infos()) patients.insert(info.patient_id);
    std::printf("%zu nodules of %zu patients in %d folds (seed %llu) -> %s\n", store.size(), patients.size(),
                options->folds,
                static_cast<unsigned long long>(options->seed), options->out.c_str());
    std::printf("fold  val patients  val nodules  train nodules   diameter mm: mean  median   min    max\n");
    for (std::size_t k = 0; k < folds.size(); ++k) {
      std::vector<double> diameters;
      std::set<std::string> val_patients;
      for (const std::string& id : folds[k].val) {
        const storage::NoduleInfo& info = store.info(*store.find(id));
        diameters.push_back(info.diameter_mm);
        val_patients.insert(info.patient_id);
      }
      const storage::ValueStats d = storage::describe(diameters);
      std::printf("%4zu  %12zu  %11zu  %13zu   %17.1f  %6.1f  %5.1f  %5.1f\n", k, val_patients.size(),
                  folds[k].val.size(), folds[k].train.size(), d.mean, d.median, d.min, d.max);
    }
  });
}

}  // namespace ugs::cli
