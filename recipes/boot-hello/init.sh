# Run by the image's /init after the kernel filesystems are mounted and the
# modules are loaded; its exit status is the status of `recipe boot`.
echo "hello from $(uname -m), kernel $(uname -r)"
grep -m1 -E '^(model name|Processor|CPU architecture)' /proc/cpuinfo
echo "modules: $(cut -d' ' -f1 /proc/modules | sort | tr '\n' ' ')"
