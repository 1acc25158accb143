/* net_validate.c — the alpha-beta validation of generated platforms: for each case it
 * writes a platform with the library, runs collective_probe under smpirun with the exact
 * network model (NET_SMPI_CM02), and compares the simulated time of each collective with
 * the analytical one built from net_alpha_beta. Prints a table; exit 0 if every checked row
 * is within the tolerance (default 1%), 1 otherwise, 2 on usage or run errors.
 *
 * The analytical time. A collective is a sequence of steps; in a step every rank sends one
 * chunk of m bytes to a peer (ring: rank+1; SMPI's allgather "ring": rank+i at step i). A
 * flow f = (s, d) alone takes alpha_f + m / beta_f with (alpha_f, beta_f) =
 * net_alpha_beta(s, d). Flows of a step that share a link of capacity C (a shared
 * backbone, a node's NIC in one direction) get C / n each, so
 *   T = sum over steps of max over flows f of (alpha_f + m / min(beta_f, C_L / n_L)),
 * L ranging over the shared links of f's route. On a star without backbone this is the
 * textbook 2(K-1)(alpha + M/(K beta)) for ring all-reduce and (K-1)(alpha + M/(K beta))
 * for all-gather. For a neighbour ring with unequal links (multi-gpu-nodes) it is
 * (K-1) max_r(alpha_r + m / beta_r) per phase: the slowest edge (the NIC) paces every step
 * (a max-plus argument: each rank waits for its own send and receive of the previous
 * step). For the shifted pattern the sum assumes the steps do not overlap, which is what
 * SMPI's sendrecv-per-step code does up to one latency.
 *
 * usage: net_validate --smpirun PATH --probe PATH --workdir DIR [--tol REL] [--quick] */
#include "net.h"
#include "net_private.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef enum { PAT_RING, PAT_SHIFT, PAT_P2P } pattern;

typedef struct vcase {
    char spec[160];
    unsigned long long bytes;
    const char *ops;  /* collective_probe operations */
    const char *algs; /* collective algorithm flags */
    int shift_ag;     /* MPI_Allgather is SMPI's "ring" (rank+i shifts), else NTSLR ring */
    net_smpi_model model;
    int checked;       /* 0: informational row (no tolerance) */
    unsigned src, dst; /* p2p */
} vcase;

/* ---- links shared between the flows of one step ------------------------------------- */
/* Shared links a route crosses, as (id, capacity): star backbone (if SHARED); multi-gpu:
 * NIC up of the source node, NIC down of the destination node, core (if SHARED). Private
 * links of a rank carry one flow per direction in every pattern used here. */
static int shared_links(const net_config *c, unsigned s, unsigned d, unsigned ids[3],
                        double caps[3]) {
    int n = 0;
    if (s == d)
        return 0;
    if (c->topology == NET_TOPO_STAR && c->bb_bw > 0 && !c->bb_fatpipe) {
        ids[n] = 0;
        caps[n++] = c->bb_bw;
    } else if (c->topology == NET_TOPO_MULTI_GPU && s / c->gpus != d / c->gpus) {
        ids[n] = 1 + s / c->gpus; /* NIC up of node */
        caps[n++] = c->bw;
        ids[n] = 1 + c->nodes + d / c->gpus; /* NIC down of node */
        caps[n++] = c->bw;
        if (c->bb_bw > 0 && !c->bb_fatpipe) {
            ids[n] = 0;
            caps[n++] = c->bb_bw;
        }
    }
    return n;
}

/* p2.16xlarge: every link but a GPU's own may carry several flows of a step. A link
 * direction is a slot (memory: one slot for both directions); each flow gets the least of
 * capacity / flows over its slots. With every flow limited by the same share (the
 * neighbour ring: each root port carries as many flows up as down) this is max-min
 * fairness exactly. */
static unsigned p2_slot(const net_p2_hop *h) {
    unsigned base[] = {0, 2 * NET_P2_GPUS, 2 * (NET_P2_GPUS + NET_P2_BOARDS),
                       2 * (NET_P2_GPUS + 2 * NET_P2_BOARDS),
                       2 * (NET_P2_GPUS + 2 * NET_P2_BOARDS) + 2};
    if (h->kind == NET_P2_MEM)
        return base[NET_P2_MEM] + h->idx;
    return base[h->kind] + 2 * h->idx + (unsigned)h->up;
}
#define P2_SLOTS (2 * (NET_P2_GPUS + 2 * NET_P2_BOARDS) + 4)

static double p2_step_time(const net_config *c, const unsigned *src, const unsigned *dst,
                           unsigned nf, double m) {
    unsigned count[P2_SLOTS] = {0};
    net_p2_hop hops[NET_P2_MAX_HOPS];
    for (unsigned f = 0; f < nf; f++) {
        int n = src[f] == dst[f] ? 0 : net_p2_route(c, src[f], dst[f], hops);
        for (int h = 0; h < n; h++)
            count[p2_slot(&hops[h])]++;
    }
    double t = 0;
    for (unsigned f = 0; f < nf; f++) {
        double a, b;
        qsgd_err e;
        if (net_alpha_beta(c, src[f], dst[f], &a, &b, &e) != QSGD_OK) {
            fprintf(stderr, "net_alpha_beta: %s\n", e.msg);
            exit(2);
        }
        int n = src[f] == dst[f] ? 0 : net_p2_route(c, src[f], dst[f], hops);
        for (int h = 0; h < n; h++) {
            double bw, lat;
            net_p2_link(c, hops[h].kind, &bw, &lat);
            b = fmin(b, bw / count[p2_slot(&hops[h])]);
        }
        t = fmax(t, a + m / b);
    }
    return t;
}

/* Time of one step: flows src[i] -> dst[i], each of m bytes. */
static double step_time(const net_config *c, const unsigned *src, const unsigned *dst, unsigned nf,
                        double m) {
    if (c->topology == NET_TOPO_P2)
        return p2_step_time(c, src, dst, nf, m);
    unsigned nlinks = 1 + 2 * (c->topology == NET_TOPO_MULTI_GPU ? c->nodes : 0);
    unsigned *count = calloc(nlinks, sizeof *count);
    unsigned ids[3];
    double caps[3], t = 0;
    for (unsigned f = 0; f < nf; f++) {
        int n = shared_links(c, src[f], dst[f], ids, caps);
        for (int j = 0; j < n; j++)
            count[ids[j]]++;
    }
    for (unsigned f = 0; f < nf; f++) {
        double a, b;
        qsgd_err e;
        if (net_alpha_beta(c, src[f], dst[f], &a, &b, &e) != QSGD_OK) {
            fprintf(stderr, "net_alpha_beta: %s\n", e.msg);
            exit(2);
        }
        int n = shared_links(c, src[f], dst[f], ids, caps);
        for (int j = 0; j < n; j++)
            b = fmin(b, caps[j] / count[ids[j]]);
        t = fmax(t, a + m / b);
    }
    free(count);
    return t;
}

/* Analytical time of `op` of M bytes on c; *what names the pattern. */
static double analytical(const net_config *c, const vcase *vc, const char *op, const char **what) {
    unsigned k = c->hosts;
    unsigned *src = malloc(k * sizeof *src), *dst = malloc(k * sizeof *dst);
    double m = (double)vc->bytes / k, t = 0;
    if (!strcmp(op, "p2p")) {
        src[0] = vc->src;
        dst[0] = vc->dst;
        t = step_time(c, src, dst, 1, (double)vc->bytes);
        *what = "alpha+M/beta";
    } else if (!strcmp(op, "allgather") && vc->shift_ag) {
        for (unsigned i = 1; i < k; i++) {
            for (unsigned r = 0; r < k; r++) {
                src[r] = r;
                dst[r] = (r + i) % k;
            }
            t += step_time(c, src, dst, k, m);
        }
        *what = "sum_i step(r->r+i)";
    } else {
        for (unsigned r = 0; r < k; r++) {
            src[r] = r;
            dst[r] = (r + 1) % k;
        }
        unsigned steps = strstr(op, "allreduce") ? 2 * (k - 1) : k - 1;
        t = steps * step_time(c, src, dst, k, m);
        *what = strstr(op, "allreduce") ? "2(K-1)step(r->r+1)" : "(K-1)step(r->r+1)";
    }
    free(src);
    free(dst);
    return t;
}

/* ---- running one case ------------------------------------------------------------------ */
typedef struct row {
    char net[48], op[40], what[24];
    unsigned k;
    unsigned long long bytes;
    double sim, ana;
    int checked;
} row;

static int run_case(const vcase *vc, int idx, const char *smpirun, const char *probe,
                    const char *workdir, row *rows, int *nrows, int maxrows, FILE *cmdlog) {
    net_config c;
    qsgd_err e;
    if (net_config_parse(vc->spec, &c, &e) != QSGD_OK) {
        fprintf(stderr, "case %d: %s\n", idx, e.msg);
        return 2;
    }
    char xml[512], hosts[512], log[512], flags[256], cmd[2048];
    snprintf(xml, sizeof xml, "%s/case%02d.xml", workdir, idx);
    snprintf(hosts, sizeof hosts, "%s/case%02d.hosts", workdir, idx);
    snprintf(log, sizeof log, "%s/case%02d.log", workdir, idx);
    if (net_write_platform(&c, xml, hosts, &e) != QSGD_OK ||
        net_smpi_flags(&c, vc->model, flags, sizeof flags, &e) != QSGD_OK) {
        fprintf(stderr, "case %d: %s\n", idx, e.msg);
        return 2;
    }
    char p2p[32] = "";
    if (!strcmp(vc->ops, "p2p"))
        snprintf(p2p, sizeof p2p, " %u %u", vc->src, vc->dst);
    snprintf(cmd, sizeof cmd,
             "%s -np %u -platform %s -hostfile %s %s %s --cfg=smpi/simulate-computation:no "
             "%s %s %llu%s",
             smpirun, c.hosts, xml, hosts, flags, vc->algs, probe, vc->ops, vc->bytes, p2p);
    fprintf(cmdlog, "%s\n", cmd);
    char full[2600];
    snprintf(full, sizeof full, "%s 2>%s", cmd, log);
    FILE *p = popen(full, "r");
    if (!p) {
        perror("popen");
        return 2;
    }
    char line[512], net[48];
    /* the row's network: the topology's name and its shape, by the parsed topology (the
     * per-topology cases of this file), never by the name as written */
    snprintf(net, sizeof net, "%s", net_topology_name(c.topology));
    if (c.topology == NET_TOPO_MULTI_GPU)
        snprintf(net, sizeof net, "multigpu %ux%u%s", c.nodes, c.gpus,
                 c.gpu_link[0] ? c.gpu_link[0] == 'P' ? " PCIe" : " NVL" : "");
    else if (c.topology == NET_TOPO_STAR && c.bb_bw > 0)
        snprintf(net, sizeof net, "star+bb");
    if (c.topology == NET_TOPO_P2)
        snprintf(net, sizeof net, "p2.16xlarge bpr=%u", c.boards_per_root);
    else if (c.topology != NET_TOPO_MULTI_GPU && c.link[0])
        snprintf(net + strlen(net), sizeof net - strlen(net), " %s", c.link);
    else if (c.topology == NET_TOPO_MULTI_GPU)
        snprintf(net + strlen(net), sizeof net - strlen(net), "+%s", c.link);
    int got = 0;
    while (fgets(line, sizeof line, p)) {
        char op[32];
        unsigned k;
        unsigned long long bytes;
        double t;
        if (sscanf(line, "probe op=%31s ranks=%u bytes=%llu time=%lf", op, &k, &bytes, &t) != 4)
            continue;
        if (*nrows >= maxrows)
            break;
        row *r = &rows[(*nrows)++];
        memset(r, 0, sizeof *r);
        snprintf(r->net, sizeof r->net, "%s", net);
        if (!strcmp(op, "allgather"))
            snprintf(r->op, sizeof r->op, "allgather[%s]", vc->shift_ag ? "ring" : "NTSLR");
        else if (!strcmp(op, "allreduce"))
            snprintf(r->op, sizeof r->op, "allreduce[lr]");
        else if (!strcmp(op, "p2p"))
            snprintf(r->op, sizeof r->op, "p2p %u->%u", vc->src, vc->dst);
        else
            snprintf(r->op, sizeof r->op, "%s", op);
        if (vc->model != NET_SMPI_CM02)
            snprintf(r->op + strlen(r->op), sizeof r->op - strlen(r->op), " %s",
                     net_smpi_model_name(vc->model));
        r->k = k;
        r->bytes = bytes;
        r->sim = t;
        const char *what = "";
        r->ana = analytical(&c, vc, op, &what);
        snprintf(r->what, sizeof r->what, "%s", what);
        r->checked = vc->checked;
        got++;
    }
    int st = pclose(p);
    if (st != 0 || got == 0) {
        fprintf(stderr, "case %d failed (status %d, %d results): %s\nsee %s\n", idx, st, got, cmd,
                log);
        return 2;
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *smpirun = NULL, *probe = NULL, *workdir = NULL;
    double tol = 0.01;
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--smpirun") && i + 1 < argc)
            smpirun = argv[++i];
        else if (!strcmp(argv[i], "--probe") && i + 1 < argc)
            probe = argv[++i];
        else if (!strcmp(argv[i], "--workdir") && i + 1 < argc)
            workdir = argv[++i];
        else if (!strcmp(argv[i], "--tol") && i + 1 < argc)
            tol = atof(argv[++i]);
        else if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else {
            fprintf(stderr, "usage: net_validate --smpirun PATH --probe PATH --workdir DIR "
                            "[--tol REL] [--quick]\n");
            return 2;
        }
    }
    if (!smpirun || !probe || !workdir) {
        fprintf(stderr, "net_validate: --smpirun, --probe and --workdir are required\n");
        return 2;
    }
    mkdir(workdir, 0755);

    static vcase cases[64];
    int nc = 0;
    const char *lr_ring = "--cfg=smpi/allreduce:lr --cfg=smpi/allgather:ring";
    const char *lr_ntslr = "--cfg=smpi/allreduce:lr --cfg=smpi/allgather:NTSLR";
    const char *links[] = {"1GbE", "10GbE"};
    const unsigned ks[] = {2, 4, 8, 16};
    const unsigned long long ms[] = {1000000ull, 100000000ull};
    /* (a) star: the textbook formulas. */
    for (int l = 0; l < 2; l++)
        for (int ki = 0; ki < 4; ki++)
            for (int mi = 0; mi < 2; mi++) {
                if (quick && (ki == 1 || ki == 2))
                    continue;
                vcase *v = &cases[nc++];
                snprintf(v->spec, sizeof v->spec, "star:hosts=%u,link=%s", ks[ki], links[l]);
                v->bytes = ms[mi];
                v->ops = "allreduce,allgather,ring-allreduce,ring-allgather";
                v->algs = lr_ring;
                v->shift_ag = 1;
                v->checked = 1;
            }
    /* (b) 2 nodes x 4 GPUs on PCIe, 10GbE NICs: the NIC paces the ring; the shifted
     * all-gather also shares NICs between flows. Plus point-to-point routes. */
    for (int mi = 0; mi < 2; mi++) {
        vcase *v = &cases[nc++];
        snprintf(v->spec, sizeof v->spec,
                 "multi-gpu-nodes:nodes=2,gpus=4,gpu_link=PCIe3x16,link=10GbE");
        v->bytes = ms[mi];
        v->ops = "allreduce,allgather,ring-allreduce,ring-allgather";
        v->algs = lr_ntslr;
        v->checked = 1;
        v = &cases[nc++];
        *v = cases[nc - 2];
        v->ops = "allgather";
        v->algs = lr_ring;
        v->shift_ag = 1;
    }
    for (int j = 0; j < 2; j++) {
        vcase *v = &cases[nc++];
        snprintf(v->spec, sizeof v->spec,
                 "multi-gpu-nodes:nodes=2,gpus=4,gpu_link=PCIe3x16,link=10GbE");
        v->bytes = 100000000ull;
        v->ops = "p2p";
        v->algs = "";
        v->src = j ? 3 : 0;
        v->dst = j ? 4 : 1;
        v->checked = 1;
    }
    /* (c) one node of 16 GPUs (p2.16xlarge shape), a fat tree, a shared backbone. */
    {
        vcase *v = &cases[nc++];
        snprintf(v->spec, sizeof v->spec, "multi-gpu-nodes:nodes=1,gpus=16,gpu_link=PCIe3x16");
        v->bytes = 100000000ull;
        v->ops = "allreduce,ring-allgather";
        v->algs = lr_ntslr;
        v->checked = 1;
        v = &cases[nc++];
        snprintf(v->spec, sizeof v->spec, "fat-tree:hosts=16,radix=8,link=10GbE");
        v->bytes = 100000000ull;
        v->ops = "allreduce,ring-allgather";
        v->algs = lr_ntslr;
        v->checked = 1;
        v = &cases[nc++];
        snprintf(v->spec, sizeof v->spec,
                 "star:hosts=8,link=10GbE,bb_bw=40Gbps,bb_lat=1us,bb_sharing=shared");
        v->bytes = 100000000ull;
        v->ops = "ring-allreduce";
        v->algs = lr_ntslr;
        v->checked = 1;
    }
    /* (d) single routes: a 3-level derived fat tree, a multi-gpu core link, and a long
     * latency (2 ms) that is alpha-beta only because TCP-gamma is lifted. */
    {
        const char *specs[] = {"fat-tree:hosts=27,radix=6,link=1GbE",
                               "multi-gpu-nodes:nodes=3,gpus=2,bb_bw=5Gbps,bb_lat=3us",
                               "star:hosts=2,link=10GbE,lat=2ms"};
        const unsigned dsts[] = {26, 5, 1};
        for (int j = 0; j < 3; j++) {
            vcase *v = &cases[nc++];
            snprintf(v->spec, sizeof v->spec, "%s", specs[j]);
            v->bytes = j == 2 ? 100000000ull : 1000000ull;
            v->ops = "p2p";
            v->algs = "";
            v->src = 0;
            v->dst = dsts[j];
            v->checked = 1;
        }
    }
    /* (f) p2.16xlarge (docs/platforms.md): the neighbour ring on 16 GPUs, where the root
     * ports pace every flow (4 flows up and 4 down on each); 8 GPUs (one socket); single
     * routes on one board, across boards and across the sockets (QPI, both memories). */
    {
        const char *specs[] = {"p2.16xlarge:hosts=16", "p2.16xlarge:hosts=8"};
        for (int j = 0; j < 2; j++) {
            vcase *v = &cases[nc++];
            snprintf(v->spec, sizeof v->spec, "%s", specs[j]);
            v->bytes = 100000000ull;
            v->ops = "ring-allreduce,ring-allgather";
            v->algs = lr_ntslr;
            v->checked = 1;
        }
        const unsigned srcs[] = {0, 0, 3}, dsts[] = {1, 5, 12};
        for (int j = 0; j < 3; j++) {
            vcase *v = &cases[nc++];
            snprintf(v->spec, sizeof v->spec, "p2.16xlarge:hosts=16");
            v->bytes = 100000000ull;
            v->ops = "p2p";
            v->algs = "";
            v->src = srcs[j];
            v->dst = dsts[j];
            v->checked = 1;
        }
    }
    /* (e) informational: SimGrid's default SMPI model on the same star. */
    for (int mi = 0; mi < 2; mi++) {
        vcase *v = &cases[nc++];
        snprintf(v->spec, sizeof v->spec, "star:hosts=16,link=10GbE");
        v->bytes = ms[mi];
        v->ops = "allreduce";
        v->algs = lr_ring;
        v->model = NET_SMPI_DEFAULT;
        v->checked = 0;
    }

    char cmdpath[512];
    snprintf(cmdpath, sizeof cmdpath, "%s/commands.txt", workdir);
    FILE *cmdlog = fopen(cmdpath, "w");
    if (!cmdlog) {
        perror(cmdpath);
        return 2;
    }
    static row rows[512];
    int nrows = 0, rc = 0;
    for (int i = 0; i < nc && rc == 0; i++)
        rc = run_case(&cases[i], i, smpirun, probe, workdir, rows, &nrows, 512, cmdlog);
    fclose(cmdlog);
    if (rc)
        return rc;

    char tsvpath[512];
    snprintf(tsvpath, sizeof tsvpath, "%s/alpha_beta.tsv", workdir);
    FILE *tsv = fopen(tsvpath, "w");
    if (tsv) {
        char flags[256];
        qsgd_err e;
        net_config c;
        net_config_default(&c, NET_TOPO_STAR);
        if (net_smpi_flags(&c, NET_SMPI_CM02, flags, sizeof flags, &e) == QSGD_OK)
            fprintf(tsv, "# network flags (cm02 rows): %s\n", flags);
        fprintf(tsv, "# commands: %s\n", cmdpath);
        fprintf(tsv, "network\tK\tbytes\tcollective\tformula\tsimulated_s\tanalytical_s\trel_"
                     "err\tchecked\n");
    }
    int fails = 0;
    printf("%-26s %3s %10s %-22s %-20s %14s %14s %10s  %s\n", "network", "K", "M(bytes)",
           "collective", "formula", "simulated(s)", "analytical(s)", "rel.err", "");
    for (int i = 0; i < nrows; i++) {
        row *r = &rows[i];
        double rel = (r->sim - r->ana) / r->ana;
        const char *st = !r->checked ? "info" : fabs(rel) <= tol ? "ok" : "FAIL";
        fails += r->checked && fabs(rel) > tol;
        printf("%-26s %3u %10llu %-22s %-20s %14.9f %14.9f %+10.2e  %s\n", r->net, r->k, r->bytes,
               r->op, r->what, r->sim, r->ana, rel, st);
        if (tsv)
            fprintf(tsv, "%s\t%u\t%llu\t%s\t%s\t%.9e\t%.9e\t%.3e\t%d\n", r->net, r->k, r->bytes,
                    r->op, r->what, r->sim, r->ana, rel, r->checked);
    }
    if (tsv)
        fclose(tsv);
    printf("%d rows, %d failed (tolerance %.2g); smpirun command lines in %s, table in %s\n", nrows,
           fails, tol, cmdpath, tsvpath);
    return fails ? 1 : 0;
}
