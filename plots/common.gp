# common.gp — terminal, output and style shared by the figure scripts of `qsgdsim plot`
# (experiments/cmd_plot.c). A script sets W and H (the figure size in pixels) and then runs
#   load common
# Variables from the program: fmt = png | svg | pdf | dumb (text on stdout), outfile ('' =
# stdout). Colours come from the program (fp32 is always dark grey, then the palette).
if (!exists("fmt")) fmt = 'png'
if (!exists("outfile")) outfile = ''
if (fmt eq 'dumb') {
    # one text column per ~9 pixels, one line per ~16 pixels, within a wide terminal
    eval sprintf("set terminal dumb size %d,%d noenhanced", W / 9 > 240 ? 240 : W / 9, H / 16 < 24 ? 24 : H / 16)
} else {
    if (fmt eq 'svg') {
        eval sprintf("set terminal svg size %d,%d dynamic font 'DejaVu Sans,12' noenhanced background rgb 'white'", W, H)
    } else {
        if (fmt eq 'pdf') {
            eval sprintf("set terminal pdfcairo size %.2fin,%.2fin font 'DejaVu Sans,9' noenhanced", W / 110.0, H / 110.0)
        } else {
            eval sprintf("set terminal pngcairo size %d,%d font 'DejaVu Sans,11' noenhanced", W, H)
        }
    }
}
if (outfile ne '') { set output outfile } else { set output }
set encoding utf8
set datafile separator "\t"
set datafile missing "NaN"
set grid xtics ytics lc rgb '#dddddd'
set border lc rgb '#444444'
# v(name, i): the program's numbered variables, e.g. v('ptitle', 2) = ptitle2
v(name, i) = value(sprintf('%s%d', name, i))
