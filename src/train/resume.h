#pragma once
// What a checkpoint holds beyond the weights and the optimizer's buffers, so
// that a run resumes exactly where it stopped: the configuration, the
// position (epoch, batch, step, the epoch's loss so far) and the schedule's
// state. The shuffle needs nothing more: each epoch's order is a function of
// (seed, epoch).
#include <map>
#include <string>

#include "checkpoint/checkpoint.h"
#include "optim/schedule.h"
#include "train/config.h"
#include "train/trainer.h"

namespace mnist {

// Metadata keys: "config" (JSON), "train.epoch", "train.batch", "train.step",
// "train.epoch_loss_sum", "train.seconds", "schedule.lr", "schedule.best",
// "schedule.bad_epochs", "schedule.seen". The step count in memory is the
// optimizer's alone; "train.step" records it for readers of the file, and
// resuming takes the optimizer's "optim.steps" (checkpoint/checkpoint.h).
std::map<std::string, std::string> training_metadata(const TrainConfig& config, const TrainState& state,
                                                     int64_t step, const Schedule& schedule);

struct ResumePoint {
  TrainConfig config;
  TrainState state;
  int64_t step = 0;  // optimizer steps taken
  Schedule::PlateauState plateau;
};

// Error naming the file if the checkpoint lacks the training state.
ResumePoint read_resume_point(const SavedModel& saved);

}  // namespace mnist
