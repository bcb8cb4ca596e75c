import java.lang.reflect.*;
import java.io.*;
import org.apache.lucene.analysis.standard.StandardTokenizerImpl;
public class DumpStandardTokenizerTables {
  static String rle(int[] a) {
    StringBuilder sb = new StringBuilder("[");
    int i = 0; boolean first = true;
    while (i < a.length) { int j = i; while (j < a.length && a[j] == a[i]) j++;
      if (!first) sb.append(','); first = false; sb.append('[').append(j - i).append(',').append(a[i]).append(']'); i = j; }
    return sb.append(']').toString();
  }
  static Object get(String n) throws Exception { Field f = StandardTokenizerImpl.class.getDeclaredField(n); f.setAccessible(true); return f.get(null); }
  public static void main(String[] args) throws Exception {
    char[] cm = (char[]) get("ZZ_CMAP"); int[] cmap = new int[cm.length]; for (int i = 0; i < cm.length; i++) cmap[i] = cm[i];
    StandardTokenizerImpl impl = new StandardTokenizerImpl(new StringReader(""));
    Field bf = StandardTokenizerImpl.class.getDeclaredField("ZZ_BUFFERSIZE"); bf.setAccessible(true);
    System.out.println("{\"buffer_size\": " + bf.getInt(impl) + ",");
    System.out.println("\"cmap\": " + rle(cmap) + ",");
    for (String n : new String[]{"ZZ_LEXSTATE", "ZZ_ACTION", "ZZ_ROWMAP", "ZZ_TRANS", "ZZ_ATTRIBUTE"})
      System.out.println("\"" + n.substring(3).toLowerCase() + "\": " + rle((int[]) get(n)) + (n.equals("ZZ_ATTRIBUTE") ? "" : ","));
    System.out.println("}");
  }
}
