// Population-search evaluation over MPI (Open MPI), master-worker: `mpirun -np N metaloss search
// --mpi ...` runs the search on rank 0 and evaluates candidates on ranks 1..N-1 with the same
// line protocol as local worker processes (meta/search/workers.h), so a run gives the same result
// as a local one with the same seed. Without METALOSS_MPI these functions throw a clear error.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "meta/search/population.h"

namespace metaloss::app {

bool mpi_built();
void mpi_start(int* argc, char*** argv);  // MPI_Init
void mpi_stop();                          // MPI_Finalize (no-op if not started)
void mpi_abort(int code);                 // ends every rank (rank 0 failed)
int mpi_rank();
int mpi_size();
// Ranks > 0: receive the run's configuration, build the evaluator, serve jobs until told to stop.
int mpi_serve(const std::function<search::EvalFn(const std::string& init)>& make);
// Rank 0: an Evaluator over ranks 1..size-1 (sends them `init` and waits until each is ready).
// rank_devices[r - 1]: where rank r trains (each rank chose it from the same command line), as
// recorded with its results.
std::unique_ptr<search::Evaluator> make_mpi_evaluator(const std::string& init, std::vector<std::string> rank_devices);

}  // namespace metaloss::app
