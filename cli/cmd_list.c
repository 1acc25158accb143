/* cmd_list.c — `qsgdsim list [CATEGORY...]`: what the registries hold — quantizers, models,
 * network presets and topologies, device profiles, exchange strategies and the settings of
 * an experiment file — one line each, read from the registries themselves. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "data.h"
#include "exp_config.h"
#include "gpu_device.h"
#include "model.h"
#include "net.h"
#include "qsgd_opt.h"
#include "quant.h"
#include "sim.h"

#define PROG "qsgdsim list"

static void list_quantizers(void) {
    printf("quantizers (spec NAME[:key=value,...]):\n");
    char usage[512];
    for (const quant_type *const *t = quant_types(); *t; t++) {
        quant_type_usage(*t, usage, sizeof usage);
        printf("  %-10s %s\n  %-10s options: %s\n", (*t)->name, (*t)->summary, "", usage);
        qsgd_opt_print_help(stdout, (*t)->opts, "               "); /* one line per option */
    }
}

static void list_models(void) {
    printf("models (spec NAME[:key=value,...]):\n");
    char usage[512];
    for (const model_type *const *t = model_types(); *t; t++) {
        model_type_usage(*t, usage, sizeof usage);
        printf("  %-10s %s\n  %-10s options: %s\n", (*t)->name, (*t)->summary, "", usage);
        qsgd_opt_print_help(stdout, (*t)->opts, "               "); /* one line per option */
    }
}

static void list_networks(void) {
    printf("network presets (link=NAME, gpu_link=NAME):\n");
    for (const net_preset *const *p = net_presets(); *p; p++)
        printf("  %-10s %6.5g Gb/s, %4.3g us  %s\n", (*p)->name, (*p)->bw * 8 / 1e9,
               (*p)->lat * 1e6, (*p)->summary);
}

static void list_topologies(void) {
    net_list_topologies(stdout); /* generated from each topology's table */
}

static void list_data(void) {
    data_list_sources(stdout); /* generated from each source's table */
}

static void list_devices(void) {
    printf("device profiles (compute flops:NAME, codec device:NAME):\n");
    for (const sim_device *const *d = sim_devices(); *d; d++)
        printf("  %-6s %6.3g TFLOP/s peak x %.2f sustained, codec %.3g GB/s  %s\n", (*d)->name,
               (*d)->peak_flops / 1e12, (*d)->efficiency, (*d)->codec_bytes_per_s / 1e9,
               (*d)->summary);
}

static void list_time_models(const char *what, const sim_time_model *const *reg) {
    printf("%s\n", what);
    for (size_t i = 0; reg[i]; i++) {
        const sim_time_model *m = reg[i];
        char spell[64];
        snprintf(spell, sizeof spell, "%s%s%s%s%s", m->name, m->arg && m->arg_optional ? "[" : "",
                 m->arg ? ":" : "", m->arg ? m->arg : "", m->arg && m->arg_optional ? "]" : "");
        printf("  %-18s %s\n", spell, m->summary);
    }
}

static void list_compute(void) {
    list_time_models("compute time models (compute = MODEL, trainer --compute):",
                     sim_compute_models());
    printf("measured throughputs (compute throughput:DEVICE):\n");
    sim_throughputs_print(stdout, "  ");
}

static void list_codecs(void) {
    list_time_models("codec time models (codec = MODEL, trainer --codec):", sim_codec_models());
}

static void list_exchanges(void) {
    size_t n;
    const sim_exchange_info *x = sim_exchange_list(&n);
    printf("exchange strategies (exchange = NAME):\n");
    for (size_t i = 0; i < n; i++)
        printf("  %-10s %s\n", x[i].name, x[i].summary);
}

static void list_settings(void) {
    static const char *const type[] = {"string", "integer", "number", "bool"};
    printf("experiment settings (docs/experiments.md; a list of values is a sweep axis):\n");
    printf("  %-16s %-8s %s\n", "name", "string",
           "output directory results/<name> (default: file stem)");
    printf("  %-16s %-8s %s\n", "description", "string", "one line, copied to the result files");
    for (int k = 0; k < EXP_NKEYS; k++) {
        const exp_keyinfo *ki = exp_key_info((exp_key)k);
        char help[300];
        sim_setting_help(ki, help, sizeof help);
        printf("  %-16s %-8s %s (default %s)\n", ki->name, type[exp_key_type((exp_key)k)], help,
               *ki->def ? ki->def : "none");
    }
    printf("  %-16s %-8s %s\n", "reference", "groups",
           "paper numbers: ( { <settings>; speedup = X; accuracy = A; source = \"...\"; }, ... )");
}

static void list_backends(void) {
    printf("compute backends (train/trainer --device, experiment key device; auto = cuda when\n"
           "available and the model has a CUDA version, else cpu):\n");
    printf("  %-10s %s\n", "cpu", "available: OpenBLAS (every model)");
    char why[200] = "", desc[160] = "";
    int n = gpu_device_count(why, sizeof why);
    char models[200] = "";
    size_t off = 0;
    for (const model_type *const *t = model_types(); *t; t++)
        if (model_has_cuda((*t)->name) && off < sizeof models)
            off += (size_t)snprintf(models + off, sizeof models - off, "%s%s", off ? ", " : "",
                                    (*t)->name);
    if (n > 0 && gpu_device_describe(0, desc, sizeof desc) == 0)
        printf("  %-10s available: cuda:0 %s (%d device%s)\n", "cuda", desc, n, n == 1 ? "" : "s");
    else
        printf("  %-10s not available: %s\n", "cuda", why);
    char codecs[200] = ""; /* the quantizers whose table names a GPU wire format */
    off = 0;
    for (const quant_type *const *t = quant_types(); *t; t++)
        if ((*t)->gpu_codec != QUANT_GPU_NONE && off < sizeof codecs)
            off += (size_t)snprintf(codecs + off, sizeof codecs - off, "%s%s", off ? ", " : "",
                                    (*t)->name);
    if (gpu_built_with_cuda())
        printf("  %-10s CUDA models (dense data): %s; GPU codec (fixed-size formats): %s\n", "",
               models, codecs);
}

static const struct category {
    const char *name, *alias, *summary;
    void (*fn)(void);
} categories[] = {
    {"quantizers", "quantizer", "gradient quantizers", list_quantizers},
    {"models", "model", "models (objectives)", list_models},
    {"networks", "presets", "network link presets", list_networks},
    {"topologies", "topology", "network topologies", list_topologies},
    {"data", "sources", "data sources", list_data},
    {"devices", "device", "device profiles of the compute and codec time models", list_devices},
    {"backends", "backend", "where gradients are computed (cpu, cuda) and whether a GPU is here",
     list_backends},
    {"exchanges", "exchange", "gradient exchange strategies", list_exchanges},
    {"compute", "compute-models", "compute time models (simulated gradient time)", list_compute},
    {"codecs", "codec", "codec time models (simulated encode/decode time)", list_codecs},
    {"settings", "keys", "settings of an experiment file (qsgdsim run)", list_settings},
};
#define NCAT (sizeof categories / sizeof categories[0])

static void usage(FILE *f) {
    fprintf(f, "usage: qsgdsim list [CATEGORY...]\n"
               "       qsgdsim list settings --markdown   (the table of docs/experiments.md)\n"
               "List what qsgdsim knows, one line each. Categories:\n");
    for (size_t i = 0; i < NCAT; i++)
        fprintf(f, "  %-11s %s\n", categories[i].name, categories[i].summary);
    fprintf(f,
            "Without a category: all of them; with several, each in the order given.\n"
            "An unknown category is an error (exit %d) and nothing is listed.\n",
            CMD_USAGE);
}

/* The category named name (or its alias), or NCAT. */
static size_t find_category(const char *name) {
    size_t i = 0;
    while (i < NCAT && strcmp(name, categories[i].name) && strcmp(name, categories[i].alias))
        i++;
    return i;
}

int cmd_list(int argc, char **argv) {
    static const struct option opts[] = {
        {"help", no_argument, 0, 'h'}, {"markdown", no_argument, 0, 'm'}, {0, 0, 0, 0}};
    int c, markdown = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return CMD_OK;
        }
        if (c == 'm') {
            markdown = 1;
            continue;
        }
        fprintf(stderr, PROG ": unknown option '%s'\n\n", argv[optind - 1]);
        usage(stderr);
        return CMD_USAGE;
    }
    if (markdown) { /* the settings table, generated from sim/sim_settings.def */
        if (argc - optind != 1 || find_category(argv[optind]) != find_category("settings")) {
            fprintf(stderr, PROG ": --markdown is for the category settings only\n");
            return CMD_USAGE;
        }
        sim_settings_markdown(stdout);
        return CMD_OK;
    }
    if (optind == argc) {
        for (size_t i = 0; i < NCAT; i++) {
            if (i)
                printf("\n");
            categories[i].fn();
        }
        return CMD_OK;
    }
    /* every word first: an unknown one lists nothing (no partial output before the error) */
    int bad = 0;
    for (int a = optind; a < argc; a++)
        if (find_category(argv[a]) == NCAT) {
            fprintf(stderr, PROG ": unknown category '%s'; valid:", argv[a]);
            for (size_t j = 0; j < NCAT; j++)
                fprintf(stderr, " %s", categories[j].name);
            fprintf(stderr, "\n");
            bad = 1;
        }
    if (bad)
        return CMD_USAGE;
    int shown[NCAT] = {0}, first = 1;
    for (int a = optind; a < argc; a++) {
        size_t i = find_category(argv[a]);
        if (shown[i]++)
            continue; /* each named section once */
        if (!first)
            printf("\n");
        first = 0;
        categories[i].fn();
    }
    return CMD_OK;
}
