# loop.sh N CMD...: runs CMD N times, prints a tally and each failure's stderr
n=$1; shift; ok=0; bad=0
for i in $(seq 1 $n); do
  "$@" >/tmp/lo.$$ 2>/tmp/le.$$; rc=$?
  if [ $rc -eq 0 ] && ! grep -q "Assertion\|err:\|warn:heap" /tmp/le.$$; then ok=$((ok+1)); else bad=$((bad+1)); echo "run $i rc=$rc"; head -c 600 /tmp/le.$$; fi
done
echo "TALLY $* ok=$ok bad=$bad"
rm -f /tmp/lo.$$ /tmp/le.$$
