/* cmd_sim.c — `qsgdsim sim`: one simulated distributed training run. Writes the SimGrid
 * platform and hostfile for the requested network (network_models/), records the exact
 * smpirun command, and runs the SMPI trainer (sim/trainer.c) under smpirun. Everything
 * after "--" goes to the trainer unchanged (see qsgdsim-trainer-smpi --help). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"
#include "net.h"

#define MAX_ARGS 256

static void usage(FILE *f) {
    fprintf(f,
            "usage: qsgdsim sim --ranks K --out DIR [options] [-- TRAINER OPTIONS]\n"
            "Simulate data-parallel training on K MPI ranks over a modelled network.\n"
            "  --ranks K            MPI ranks (workers; with --exchange ps rank 0 is the server)\n"
            "  --network SPEC       platform, e.g. star:link=10GbE (default),\n"
            "                       star:bw=1Gbps,lat=50us, fat-tree:radix=8,link=100GbIB,\n"
            "                       multi-gpu-nodes:nodes=2,gpus=8,gpu_link=NVLink,link=25GbE\n"
            "                       (hosts= is set to K unless the spec gives hosts or nodes)\n"
            "  --smpi-model M       cm02 (exact alpha-beta, default) | default (SimGrid's calibrated\n"
            "                       LV08/SMPI factors)\n"
            "  --allgatherv ALG     SMPI algorithm of MPI_Allgatherv (default ring)\n"
            "  --allgather ALG      SMPI algorithm of MPI_Allgather (default: ring on one switch,\n"
            "                       NTSLR on multi-gpu-nodes, whose ring is a true neighbour ring)\n"
            "  --allreduce ALG      SMPI algorithm of MPI_Allreduce (default lr: ring)\n"
            "  --trainer PATH       the SMPI trainer (default: next to this program, or\n"
            "                       $QSGDSIM_TRAINER)\n"
            "  --dry-run            write the platform and print the command, run nothing\n"
            "  --out DIR            results: platform.xml, hostfile, command.txt and the\n"
            "                       trainer's iterations.tsv, eval.tsv, status\n"
            "Example:\n"
            "  qsgdsim sim --ranks 8 --network star:link=1GbE --out results/r1 -- \\\n"
            "      --model mlp --data fmnist --quant qsgd:bits=4,bucket=512 --epochs 1\n"
            "exit status: 0 ok, 1 failure, 2 bad options, 3 the training diverged (results kept)\n");
}

static int find_trainer(const char *given, char *buf, size_t len) {
    const char *env = getenv("QSGDSIM_TRAINER");
    if (given) {
        snprintf(buf, len, "%s", given);
        return access(buf, X_OK) == 0 ? 0 : -1;
    }
    if (env && *env) {
        snprintf(buf, len, "%s", env);
        return access(buf, X_OK) == 0 ? 0 : -1;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = 0;
            snprintf(buf, len, "%s/qsgdsim-trainer-smpi", self);
            if (access(buf, X_OK) == 0)
                return 0;
            snprintf(buf, len, "%s/../libexec/qsgdsim/qsgdsim-trainer-smpi", self);
            if (access(buf, X_OK) == 0)
                return 0;
        }
    }
    snprintf(buf, len, "qsgdsim-trainer-smpi (not found next to qsgdsim; set QSGDSIM_TRAINER)");
    return -1;
}

int cmd_sim(int argc, char **argv) {
    static const struct option opts[] = {
        {"ranks", required_argument, 0, 'k'},      {"network", required_argument, 0, 'n'},
        {"smpi-model", required_argument, 0, 'm'}, {"allgatherv", required_argument, 0, 'v'},
        {"allgather", required_argument, 0, 'g'},  {"allreduce", required_argument, 0, 'r'},
        {"trainer", required_argument, 0, 't'},    {"out", required_argument, 0, 'o'},
        {"dry-run", no_argument, 0, 'd'},          {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    long ranks = 0;
    const char *network = "star:link=10GbE", *model = "cm02", *agv = "ring", *ag = NULL;
    const char *ar = "lr", *trainer_arg = NULL, *out = NULL;
    int dry = 0, o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        switch (o) {
        case 'k':
            errno = 0;
            ranks = strtol(optarg, &end, 10);
            if (errno || *end || ranks < 1 || ranks > 100000) {
                fprintf(stderr, "qsgdsim sim: --ranks: '%s' is not an integer in 1..100000\n", optarg);
                return CMD_USAGE;
            }
            break;
        case 'n': network = optarg; break;
        case 'm': model = optarg; break;
        case 'v': agv = optarg; break;
        case 'g': ag = optarg; break;
        case 'r': ar = optarg; break;
        case 't': trainer_arg = optarg; break;
        case 'o': out = optarg; break;
        case 'd': dry = 1; break;
        case 'h': usage(stdout); return CMD_OK;
        default:
            fprintf(stderr, "qsgdsim sim: unknown or incomplete option '%s'\n", argv[optind - 1]);
            usage(stderr);
            return CMD_USAGE;
        }
    }
    if (!ranks || !out) {
        fprintf(stderr, "qsgdsim sim: --ranks and --out are required\n");
        usage(stderr);
        return CMD_USAGE;
    }
    /* network: hosts = ranks unless the spec sizes the platform itself */
    char spec[600];
    if (strstr(network, "hosts=") || strstr(network, "nodes="))
        snprintf(spec, sizeof spec, "%s", network);
    else
        snprintf(spec, sizeof spec, "%s%shosts=%ld", network, strchr(network, ':') ? "," : ":", ranks);
    net_config nc;
    net_err ne = {0};
    if (net_config_parse(spec, &nc, &ne) != NET_OK) {
        fprintf(stderr, "qsgdsim sim: --network '%s': %s\n", network, ne.msg);
        return CMD_USAGE;
    }
    if ((long)nc.hosts < ranks) {
        fprintf(stderr, "qsgdsim sim: --network '%s' has %u hosts, fewer than --ranks %ld\n",
                network, nc.hosts, ranks);
        return CMD_USAGE;
    }
    net_smpi_model sm;
    if (net_smpi_model_parse(model, &sm, &ne) != NET_OK) {
        fprintf(stderr, "qsgdsim sim: --smpi-model: %s\n", ne.msg);
        return CMD_USAGE;
    }
    if (!ag)
        ag = nc.topology == NET_TOPO_MULTI_GPU ? "NTSLR" : "ring";
    char trainer[PATH_MAX + 64];
    if (find_trainer(trainer_arg, trainer, sizeof trainer) != 0) {
        fprintf(stderr, "qsgdsim sim: cannot run the SMPI trainer: %s\n", trainer);
        return CMD_FAIL;
    }
    if (exp_mkdir_p(out) != 0) {
        fprintf(stderr, "qsgdsim sim: cannot create %s: %s\n", out, strerror(errno));
        return CMD_FAIL;
    }
    char xml[PATH_MAX], hosts[PATH_MAX], cmdf[PATH_MAX];
    snprintf(xml, sizeof xml, "%s/platform.xml", out);
    snprintf(hosts, sizeof hosts, "%s/hostfile", out);
    snprintf(cmdf, sizeof cmdf, "%s/command.txt", out);
    if (net_write_platform(&nc, xml, hosts, &ne) != NET_OK) {
        fprintf(stderr, "qsgdsim sim: %s\n", ne.msg);
        return CMD_FAIL;
    }
    char flags[512];
    if (net_smpi_flags(&nc, sm, flags, sizeof flags, &ne) != NET_OK) {
        fprintf(stderr, "qsgdsim sim: %s\n", ne.msg);
        return CMD_FAIL;
    }

    /* argv for smpirun */
    char storage[32][160];
    char *av[MAX_ARGS];
    int ac = 0, ns = 0;
    av[ac++] = "smpirun";
    av[ac++] = "-np";
    snprintf(storage[ns], sizeof storage[ns], "%ld", ranks);
    av[ac++] = storage[ns++];
    av[ac++] = "-platform";
    av[ac++] = xml;
    av[ac++] = "-hostfile";
    av[ac++] = hosts;
    char flagcopy[512];
    snprintf(flagcopy, sizeof flagcopy, "%s", flags);
    char *save = NULL;
    for (char *tok = strtok_r(flagcopy, " ", &save); tok && ac < 40; tok = strtok_r(NULL, " ", &save))
        av[ac++] = tok;
    const char *fixed[] = {"--cfg=smpi/simulate-computation:no", "--log=root.thres:warning"};
    for (size_t i = 0; i < 2; i++)
        av[ac++] = (char *)fixed[i];
    snprintf(storage[ns], sizeof storage[ns], "--cfg=smpi/allgatherv:%s", agv);
    av[ac++] = storage[ns++];
    snprintf(storage[ns], sizeof storage[ns], "--cfg=smpi/allgather:%s", ag);
    av[ac++] = storage[ns++];
    snprintf(storage[ns], sizeof storage[ns], "--cfg=smpi/allreduce:%s", ar);
    av[ac++] = storage[ns++];
    av[ac++] = trainer;
    av[ac++] = "--out";
    av[ac++] = (char *)out;
    for (int i = optind; i < argc && ac < MAX_ARGS - 1; i++)
        av[ac++] = argv[i];
    av[ac] = NULL;

    FILE *f = fopen(cmdf, "w");
    if (!f) {
        fprintf(stderr, "qsgdsim sim: cannot write %s: %s\n", cmdf, strerror(errno));
        return CMD_FAIL;
    }
    char desc[1024] = "";
    net_describe(&nc, desc, sizeof desc, &ne);
    fprintf(f, "# qsgdsim %s (git %s)\n# invoked as: %s\n# network: %s\n# smpi model: %s (%s)\n",
            exp_version(), exp_git(), exp_command_line(), desc, net_smpi_model_name(sm), flags);
    for (int i = 0; i < ac; i++)
        fprintf(f, "%s%s", av[i], i + 1 < ac ? " " : "\n");
    fclose(f);
    if (dry) {
        for (int i = 0; i < ac; i++)
            printf("%s%s", av[i], i + 1 < ac ? " " : "\n");
        return CMD_OK;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "qsgdsim sim: fork: %s\n", strerror(errno));
        return CMD_FAIL;
    }
    if (pid == 0) {
        execvp("smpirun", av);
        fprintf(stderr, "qsgdsim sim: cannot run smpirun: %s (install libsimgrid-dev)\n",
                strerror(errno));
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return CMD_OK;
    fprintf(stderr, "qsgdsim sim: the simulation failed (%s %d); see %s\n",
            WIFEXITED(st) ? "exit status" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
            out);
    /* the trainer's own codes pass through: 2 bad options, 3 diverged */
    if (WIFEXITED(st) && (WEXITSTATUS(st) == 2 || WEXITSTATUS(st) == 3))
        return WEXITSTATUS(st);
    return CMD_FAIL;
}
