"""Public functions behind the command line: scripts call these directly.

Nothing in the core imports this package; it stands on top of everything.
"""

from .bench import (
                    BENCH_MODELS,
                    BenchProfile,
                    PeakMemory,
                    bench_model,
                    bench_model_config,
                    bench_profile,
                    bench_trainer,
                    check_model_names,
                    evaluation_sets,
                    format_results_table,
                    measure_inference,
                    run_bench,
                    write_results,
)
from .data import describe_dataset, generate_dataset, list_problems, parse_params
from .environment import environment_report, format_environment_report
from .figures import plot_loss_curves, plot_prediction
from .fit import available_fields, input_kind, make_field, run_fit
from .insr import INSR_PROBLEMS, InsrSetup, format_insr_summary, insr_setup, run_insr, spectral_euler_reference
from .train import (
                    DataSpec,
                    RunConfig,
                    default_pairing,
                    evaluate_checkpoint,
                    evaluate_model,
                    load_problem,
                    make_model,
                    make_normalizers,
                    predict,
                    read_run_config,
                    resolution_key,
                    train_from_config,
)

__all__ = [
    "BENCH_MODELS",
    "INSR_PROBLEMS",
    "InsrSetup",
    "available_fields",
    "bench_trainer",
    "format_insr_summary",
    "input_kind",
    "insr_setup",
    "make_field",
    "run_fit",
    "run_insr",
    "spectral_euler_reference",
    "BenchProfile",
    "DataSpec",
    "PeakMemory",
    "RunConfig",
    "bench_model",
    "bench_model_config",
    "bench_profile",
    "check_model_names",
    "default_pairing",
    "describe_dataset",
    "environment_report",
    "evaluate_checkpoint",
    "evaluate_model",
    "evaluation_sets",
    "format_environment_report",
    "format_results_table",
    "generate_dataset",
    "list_problems",
    "load_problem",
    "make_model",
    "make_normalizers",
    "measure_inference",
    "parse_params",
    "plot_loss_curves",
    "plot_prediction",
    "predict",
    "read_run_config",
    "resolution_key",
    "run_bench",
    "train_from_config",
    "write_results",
]
