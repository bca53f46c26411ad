// ugs: train and evaluate UGS-Net and its comparison networks, from one process to a cluster.
#include <cstdio>
#include <exception>

#include "code_version.h"
#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "ugs: lung-nodule segmentation with UGS-Net, learning from several radiologists' masks.\n"
      "Run `ugs <command> --help` for the manual of a command."};
  app.set_version_flag("--version", UGS_CODE_VERSION);
  app.require_subcommand(1);
  ugs::cli::add_synth_command(app);
  ugs::cli::add_import_command(app);
  ugs::cli::add_inspect_command(app);
  ugs::cli::add_split_command(app);
  ugs::cli::add_plan_command(app);
  ugs::cli::add_train_command(app);
  ugs::cli::add_run_command(app);
  ugs::cli::add_report_command(app);
  ugs::cli::add_score_command(app);
  ugs::cli::add_predict_command(app);
  ugs::cli::add_analyze_command(app);
  ugs::cli::add_weights_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const ugs::cli::Exit& e) {
    return e.code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ugs: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
