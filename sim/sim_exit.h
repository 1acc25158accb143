/* sim_exit.h — moved to common/qsgd_exit.h (the exit statuses sit under every library now);
 * kept until the includes are updated. */
#include "qsgd_exit.h"
