/* `featcache train --head conv`: what cmd_train.c parses for every head, and the conv head's own
 * run (train_conv.c): the map cached for what is missing, new conv blocks and a head trained on it
 * (classify/convhead.h), the classifier and the head-only file, the run record. */
#ifndef FC_CLI_TRAIN_CONV_H
#define FC_CLI_TRAIN_CONV_H

#include "classify/classify.h"
#include "cli/extractor_opts.h"

typedef struct cli_train_args {
    cli_extractor x;
    fc_head_config cfg;
    unsigned given;          /* FC_HEAD_GIVEN_* of the options on the command line */
    fc_split_spec split;
    const char *dataset, *out;
    int json, threads;
    /* conv heads only */
    const char *head_out, *trace;
    int quiet, resume, trace_steps;
} cli_train_args;

/* The conv head's run; returns the exit status (the message printed). */
int cli_train_conv(cli_train_args *a);

#endif
