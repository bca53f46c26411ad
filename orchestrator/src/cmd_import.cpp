// `ugs import <format> ...`: turns a dataset in someone else's layout into a nodule store.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "commands.h"
#include "ugs/storage/import_ugsnet_png.h"

namespace ugs::cli {

namespace {

void add_ugsnet_png_command(CLI::App& import) {
  struct Options {
    std::string input_dir;
    std::string store_dir;
    storage::UgsnetPngImportOptions import;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = add_command(
      import, "ugsnet-png", "Import the UGS-Net authors' PNG layout (qiuliwang/LIDC-IDRI-Toolbox-python) into a nodule store",
      "DIR holds four 8-bit grayscale PNGs per nodule: <id>.png (the CT crop after an 8-bit window),\n"
      "<id>_union.png, <id>_intersection.png and <id>_dif.png (masks, 0/255), with\n"
      "<id> = <patient>_<nodule>_<series>, e.g. LIDC-IDRI-0002_1_3000522 (patient LIDC-IDRI-0002).\n"
      "The store gets image_unit window8 and reader_masks union-intersection-only (the layout keeps\n"
      "no per-reader masks); the difference mask is checked (= union AND NOT intersection), not stored.\n"
      "The layout keeps no pixel spacing: --spacing-mm is assumed for every nodule and recorded in the\n"
      "store's source; diameters are the equivalent diameter of the union's area times it.\n"
      "Any missing companion file, mask value other than 0/255 or inconsistent mask stops the import\n"
      "with the file named, and nothing is written.\n"
      "Data: LIDC-IDRI (Armato III et al., Med. Phys. 38(2), 2011; TCIA, CC BY 3.0).\n"
      "Format of the store: docs/data-format.md.");
  command->add_option("DIR", options->input_dir, "Folder of the PNG layout")->required();
  command->add_option("OUT", options->store_dir, "Folder of the nodule store to write")->required();
  command
      ->add_option("--spacing-mm", options->import.spacing_mm,
                   "Pixel spacing assumed for every nodule, in mm; 1 means pixel units")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  command->add_flag("--force", options->import.overwrite, "Replace an existing store at OUT (default: refuse)");
  command->callback([options] {
    const storage::UgsnetPngImport done =
        storage::import_ugsnet_png(options->input_dir, options->store_dir, options->import);
    std::printf("imported %zu nodules of %zu patients (%dx%d, window8, union-intersection-only) into %s\n",
                done.nodules, done.patients, done.height, done.width, options->store_dir.c_str());
  });
}

}  // namespace

void add_import_command(CLI::App& app) {
  CLI::App* import = app.add_subcommand("import", "Import a dataset in another layout into a nodule store");
  import->footer("Formats:\n  ugsnet-png   the UGS-Net authors' PNG layout (see `ugs import ugsnet-png --help`)");
  import->require_subcommand(1);
  add_ugsnet_png_command(*import);
}

}  // namespace ugs::cli
