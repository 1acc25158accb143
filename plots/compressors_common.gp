# compressors_common.gp — colours and dashes of the schemes of scripts/compressors-study.sh
# (loaded after common.gp): the ring all-reduce baselines black and grey, thick; the
# compressors the palette of cmd_plot.c, solid for the first ten, dashed after.
palette = '#1f77b4 #d62728 #2ca02c #9467bd #ff7f0e #8c564b #e377c2 #17becf #bcbd22 #7f7f7f'
nbase(s) = sum [j = 1:s] (v('sbase', j) ? 1 : 0)
ncomp(s) = s - nbase(s)
scol(s) = v('sbase', s) ? (nbase(s) == 1 ? '#000000' : '#888888') : word(palette, (ncomp(s) - 1) % 10 + 1)
sdash(s) = v('sbase', s) ? 1 : ((ncomp(s) - 1) / 10 % 2 ? 2 : 1)
swidth(s) = v('sbase', s) ? 3.5 : 2
